"""Data the tests read, kept in the repository so a fresh clone anywhere runs every test.

``data/circuitscape``: Circuitscape.jl's own test inputs and reference outputs (its licence beside them).
``data/linkage_mapper_demo``: Linkage Mapper's demo resistances and cores (its licence beside them).
"""
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
CS_DIR = DATA / "circuitscape"
DEMO = DATA / "linkage_mapper_demo"

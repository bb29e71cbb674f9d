"""Where the project's shared data lives: ``shared/`` beside the checkout (as CI lays it out)."""
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
CS_DIR = SHARED / "conformance" / "circuitscape"
DEMO = SHARED / "examples" / "linkage_mapper_demo"

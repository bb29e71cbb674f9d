"""Options shared by the Linkage Mapper commands, defined once."""
from __future__ import annotations

import typer

RESISTANCE = typer.Argument(..., help="Resistance raster (GeoTIFF or ASCII grid); nodata is impassable.")
CORES = typer.Argument(..., help="Core areas: polygons (Shapefile, GeoPackage) or a raster of ids.")
OUT = typer.Option(..., "--out", "-o", help="Output folder (created); its link_table.csv is reused if present.")
CORE_FIELD = typer.Option("core_id", "--core-field", help="Integer id field of the core polygons.")
CWD_METHOD = typer.Option("auto", "--cwd-method", help="CWD engine: auto, dijkstra (CPU) or sweep (array/GPU).")
SOLVER = typer.Option("auto", "--solver", help="Linear solver: auto, direct, mg (grid multigrid) or amg (pyamg).")
# Linkage Pathways
ADJACENCY = typer.Option("both", "--adjacency", help="Adjacency of cores: cwd, euclidean or both.")
MAX_CWD = typer.Option(None, "--max-cwd", help="Drop links with least-cost distance above this.")
MAX_EUCLID = typer.Option(None, "--max-euclid", help="Drop links longer than this (Euclidean, map units).")
KNN = typer.Option(None, "--knn", help="Keep each core's K nearest neighbours (by CWD).")
CONNECT = typer.Option(True, "--connect-constellations/--no-connect-constellations",
                       help="After --knn, re-link groups left disconnected.")
DROP_CROSSING = typer.Option(True, "--drop-crossing/--no-drop-crossing",
                             help="Drop links whose least-cost path crosses another core.")
CWD_THRESHOLD = typer.Option(None, "--cwd-threshold",
                             help="Truncate corridors: cells above this normalised CWD become nodata.")
WRITE_CWD = typer.Option(False, "--write-cwd", help="Also write the CWD raster of every core.")

"""Options shared by the Linkage Mapper commands, defined once."""
from __future__ import annotations

import typer

RESISTANCE = typer.Argument(..., help="Resistance raster (GeoTIFF or ASCII grid); nodata is impassable.")
CORES = typer.Argument(..., help="Core areas: polygons (Shapefile, GeoPackage) or a raster of ids. A raster in "
                       "which some value forms several 8-connected patches is read as class codes (e.g. MSPA): "
                       "each patch of equal value becomes a core, with a warning.")
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
# Pinchpoint Mapper
CUTOFF = typer.Option(..., "--cutoff", help="CWD cutoff: corridor cells have normalised CWD at most this.")
ADJACENT = typer.Option(True, "--adjacent/--no-adjacent",
                        help="Per-link pairwise runs (effective resistance, CWD:ER, max current map).")
ALL_TO_ONE = typer.Option(None, "--all-to-one/--no-all-pairs",
                          help="All-pairs run over the union of corridors in all-to-one mode (default), or none.")
PAIRWISE_ALL = typer.Option(False, "--pairwise-all", help="All-pairs run in pairwise mode instead.")
SQUARED = typer.Option(False, "--squared", help="Square resistances in the Circuitscape runs.")
# Barrier Mapper
WANT_SUM = typer.Option(False, "--sum", help="Also write the sum of positive scores over links.")
PERCENT = typer.Option(False, "--percent", help="Scores as percent of each link's CWD.")
# Centrality Mapper
WEIGHT = typer.Option("cwd", "--weight",
                      help="Link resistance for centrality: cwd (least-cost distance) or eff-resist (from pinch points).")

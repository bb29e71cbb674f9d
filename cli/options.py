"""Options shared by several commands, defined once.

Every boolean is a ``--flag/--opposite`` pair with its default shown, so ``--help`` says what
happens without the flag and how to turn it off.
"""
from __future__ import annotations

import typer

# every command (also accepted before the command name)
BACKEND = typer.Option(None, "--backend", show_default=False,
                       help="auto (GPU when available), gpu or cpu (default: $GPUCIRCUIT_BACKEND, else auto).")
QUIET = typer.Option(False, "--quiet/--no-quiet", "-q", show_default=True,
                     help="Show no progress and no summary; errors and warnings still print.")
# circuit commands
STATS = typer.Option(None, "--stats", metavar="FILE.json",
                     help="Write the job's statistics (sizes, solver, iterations, residual, timings, peak memory).")
WORKERS_HELP = "Spread independent solves over a local dask cluster of this many workers."
WORKERS = typer.Option(0, "--workers", show_default=True, help=WORKERS_HELP)
SCHEDULER = typer.Option(None, "--scheduler",
                         help="Address of a running dask scheduler to send solves to (e.g. tcp://10.0.0.5:8786).")
GPUS = typer.Option(False, "--gpus/--no-gpus", show_default=True,
                    help="With --workers: one worker per GPU (dask-cuda LocalCUDACluster).")
# Linkage Mapper commands
RESISTANCE = typer.Argument(..., help="Resistance raster (GeoTIFF or ASCII grid); nodata is impassable.")
CORES = typer.Argument(..., help="Core areas: polygons (Shapefile, GeoPackage) or a raster of ids. A raster in "
                       "which some value forms several 8-connected patches is read as class codes (e.g. MSPA): "
                       "each patch of equal value becomes a core, with a warning.")
OUT = typer.Option(..., "--out", "-o", help="Output folder (created); its link_table.csv is reused if present.")
CORE_FIELD = typer.Option("core_id", "--core-field", show_default=True, help="Integer id field of the core polygons.")
CWD_METHOD = typer.Option("auto", "--cwd-method", show_default=True,
                          help="CWD engine: auto, dijkstra (CPU) or sweep (array/GPU).")
SOLVER = typer.Option("auto", "--solver", show_default=True,
                      help="Linear solver: auto, direct, mg (grid multigrid) or amg (pyamg).")
# Linkage Pathways
ADJACENCY = typer.Option("both", "--adjacency", show_default=True, help="Adjacency of cores: cwd, euclidean or both.")
MAX_CWD = typer.Option(None, "--max-cwd", help="Drop links with least-cost distance above this.")
MAX_EUCLID = typer.Option(None, "--max-euclid", help="Drop links longer than this (Euclidean, map units).")
KNN = typer.Option(None, "--knn", help="Keep each core's K nearest neighbours (by CWD).")
CONNECT = typer.Option(True, "--connect-constellations/--no-connect-constellations", show_default=True,
                       help="After --knn, re-link groups left disconnected.")
DROP_CROSSING = typer.Option(True, "--drop-crossing/--keep-crossing", show_default=True,
                             help="Drop links whose least-cost path crosses another core, or keep them.")
CWD_THRESHOLD = typer.Option(None, "--cwd-threshold",
                             help="Truncate corridors: cells above this normalised CWD become nodata.")
WRITE_CWD = typer.Option(False, "--write-cwd/--no-write-cwd", show_default=True,
                         help="Also write the CWD raster of every core.")
# Pinchpoint Mapper
CUTOFF = typer.Option(..., "--cutoff", help="CWD cutoff: corridor cells have normalised CWD at most this.")
ADJACENT = typer.Option(True, "--adjacent/--no-adjacent", show_default=True,
                        help="Per-link pairwise runs (effective resistance, CWD:ER, max current map).")
ALL_PAIRS = typer.Option(True, "--all-pairs/--no-all-pairs", show_default=True,
                         help="One run over the union of corridors with every core (cumulative current map).")
ALL_TO_ONE = typer.Option(True, "--all-to-one/--pairwise", show_default=True,
                          help="Mode of the all-pairs run: all-to-one (as the studies use) or pairwise.")
SQUARED = typer.Option(False, "--squared/--no-squared", show_default=True,
                       help="Square resistances in the Circuitscape runs.")
# Barrier Mapper
WANT_SUM = typer.Option(False, "--sum/--no-sum", show_default=True,
                        help="Also write the sum of positive scores over links.")
PERCENT = typer.Option(False, "--percent/--no-percent", show_default=True,
                       help="Scores as percent of each link's CWD.")
RAW_SCORES = typer.Option(False, "--raw-scores/--no-raw-scores", show_default=True,
                          help="Also write each barrier GeoTIFF as NAME_raw.tif with the scores below 0 "
                               "(the main maps leave them nodata, as Barrier Mapper does).")
# Centrality Mapper
WEIGHT = typer.Option("cwd", "--weight", show_default=True,
                      help="Link resistance for centrality: cwd (least-cost distance) or eff-resist (from pinch points).")

"""Pipelines on top of the analyses: the Linkage Mapper chain, the report and the whole network study.

Each function takes arrays or an explicit set of files and options (no CLI, no guessing which file
to read); ``cli/`` modules parse options, call one function here and print what it returns.

* :mod:`.files` — the Linkage Mapper output files (names, writers, the shared link table).
* :mod:`.chain` — corridors → pinch points → barriers → centrality on one resistance grid.
* :mod:`.report` — the studies' tables, maps and summary from an explicit set of linkage outputs.
* :mod:`.habitat` — the MSPA and source-screening steps as library calls (arrays in, files out).
* :mod:`.study` — ``gpucircuit network``: resistance → MSPA → sources → chain → report.
"""

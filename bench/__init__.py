"""Benchmarks (not tests): the engine against the usual ways and against the hardware bound.

Run everything with one command, from the repository root:

    .venv/bin/python -m bench                 # the full run recorded in BENCHMARKS.md
    .venv/bin/python -m bench --help          # sizes, repeats, which sections

Modules: `models` builds the model folders, `workload` the mixed-length rows, `flops` the
FLOP counts and the measured matmul rate, `baselines` the tutorial loops and pipelines,
`engine` this project's path (core.loading + core.tasks), `measure` the interleaved
repeats, `scale` the row-count and multi-model memory runs, `table` the printed tables.
"""

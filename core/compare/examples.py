"""Error examples: each trial's most confident mistakes and the rows the models disagree on."""

from __future__ import annotations

from core.compare.model import (
    EXCERPT_CHARS, MAX_DISAGREEMENTS, Disagreement, ErrorExample, ErrorExamples, TrialErrors,
)
from core.compare.leaderboard import is_baseline
from core.dataset import LabeledSample
from core.results import RunResult, TrialResult


def check_sample(run: RunResult, sample: LabeledSample | None) -> str | None:
    """A sentence when `sample` is not the sample `run` evaluated (its rows would not line up)."""
    if sample is None or sample.sha256 == run.dataset.sha256:
        return None
    return (
        f"The sample given ({sample.source_name or 'unnamed'}, {len(sample)} rows, sha256 {sample.sha256[:12]}) is not "
        f"the one this run evaluated ({run.dataset.source}, {run.dataset.rows} rows, sha256 {run.dataset.sha256[:12]}), "
        "so its rows were not used and error examples are left out. Pass the exact file the run evaluated."
    )


def omitted_errors(mismatch: str | None) -> ErrorExamples:
    note = mismatch or (
        "Error examples are left out: a results file holds each row's prediction but not its text. "
        "To include them, pass the evaluated CSV with --data FILE, or report on a stored run (the store keeps its rows)."
    )
    return ErrorExamples(included=False, per_trial=[], disagreements=[], disagreeing_rows=0, note=note)


def collect_errors(run: RunResult, names: dict[str, str], sample: LabeledSample, examples_per_model: int) -> ErrorExamples:
    """Each model's most confident mistakes (capped), and rows where the models disagree."""
    models = [t for t in run.results if t.ok and t.predictions and not is_baseline(t)]
    per_trial = [trial_errors(t, models, names, sample, examples_per_model) for t in models]
    finished = [t for t in models if not t.stopped_early]  # disagreements on every row, not a race's prefix
    rows = disagreeing_rows(finished)
    shown = [disagreement(row, finished, names, sample) for row in rows[:MAX_DISAGREEMENTS]]
    return ErrorExamples(included=True, per_trial=per_trial, disagreements=shown, disagreeing_rows=len(rows))


def trial_errors(trial: TrialResult, models: list[TrialResult], names: dict[str, str], sample: LabeledSample, cap: int) -> TrialErrors:
    wrong = sorted((p for p in trial.predictions if not p.correct and p.row < len(sample)), key=lambda p: (-p.score, p.row))
    right_by_row = {t.key: {p.row for p in t.predictions if p.correct} for t in models if t.key != trial.key}
    examples = [
        ErrorExample(
            row=p.row, text=excerpt(sample.texts[p.row]), pair=excerpt(sample.pairs[p.row]) if sample.pairs else None,
            truth=tuple(sample.labels[p.row]), predicted=tuple(p.labels), score=p.score,
            others_right=[names[key] for key, rows in right_by_row.items() if p.row in rows],
        )
        for p in wrong[:cap]
    ]
    return TrialErrors(key=trial.key, name=names[trial.key], wrong=len(wrong), mistakes=examples)


def disagreeing_rows(models: list[TrialResult]) -> list[int]:
    """Rows where the models predict different labels; rows some got right and some wrong first."""
    if len(models) < 2:
        return []
    by_row: dict[int, list] = {}
    for trial in models:
        for p in trial.predictions:
            by_row.setdefault(p.row, []).append((frozenset(p.labels), p.correct))
    split = [row for row, seen in by_row.items() if len(seen) == len(models) and len({s[0] for s in seen}) > 1]
    mixed = {row for row in split if len({s[1] for s in by_row[row]}) > 1}
    return sorted(split, key=lambda row: (row not in mixed, row))


def disagreement(row: int, models: list[TrialResult], names: dict[str, str], sample: LabeledSample) -> Disagreement:
    predictions = {}
    for trial in models:
        found = next(p for p in trial.predictions if p.row == row)
        predictions[names[trial.key]] = (tuple(found.labels), found.correct)
    return Disagreement(
        row=row, text=excerpt(sample.texts[row]), pair=excerpt(sample.pairs[row]) if sample.pairs else None,
        truth=tuple(sample.labels[row]), predictions=predictions,
    )


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"

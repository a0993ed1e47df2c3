"""The comparison of one run's trials: the numbers the Compare page and the report both show.

Pure logic over a `RunResult` (and, when given, the `LabeledSample` it evaluated): no plotly,
no streamlit. `build_comparison` is the one entry point; every part of a `Comparison` is a
dataclass, so pages and every report format read the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from core.compare.examples import check_sample, collect_errors, omitted_errors
from core.compare.long_texts import LongTextRow, long_text_rows
from core.compare.leaderboard import (
    build_class_f1, build_leaderboard, compare_devices, cost_per_1k, name_trials, pareto_front,
)
from core.compare.model import (
    EXAMPLES_PER_MODEL, ONE_POINT, ClassF1, Comparison, DeviceGroup, DeviceRow, Disagreement, ErrorExample,
    ErrorExamples, LeaderboardRow, PairedSummary, Recommendation, SliceCallout, SliceCell, SliceRow, SliceTable,
    TrialErrors,
)
from core.compare.paired import group_indistinguishable, paired_tests_of, summarize_tests
from core.compare.recommendation import more_labels_sentence, recommend
from core.compare.slices import build_slice_table
from core.dataset import LabeledSample
from core.racing import explain_race
from core.results import RunResult

__all__ = [
    "ONE_POINT", "ClassF1", "Comparison", "DeviceGroup", "DeviceRow", "Disagreement", "ErrorExample", "ErrorExamples",
    "LeaderboardRow", "LongTextRow", "PairedSummary", "Recommendation", "SliceCallout", "SliceCell", "SliceRow", "SliceTable",
    "TrialErrors", "build_comparison", "build_slice_table", "cost_per_1k",
    "group_indistinguishable", "name_trials", "pareto_front",
]


def build_comparison(
    run: RunResult,
    *,
    sample: LabeledSample | None = None,
    latency_budget_ms: float | None = None,
    price_per_hour: Mapping[str, float] | None = None,
    examples_per_model: int = EXAMPLES_PER_MODEL,
) -> Comparison:
    """Everything the Compare page and the report show about `run`, computed once."""
    prices = dict(price_per_hour or {})
    mismatch = check_sample(run, sample)
    usable = sample if sample is not None and not mismatch else None
    names = name_trials(run.results)
    leaderboard = build_leaderboard(run, names, prices)
    paired = summarize_tests(leaderboard, paired_tests_of(run))
    front = sorted((r for r in leaderboard if r.on_front), key=lambda r: r.p50_ms)
    ranked = [r for r in leaderboard if r.ok and r.accuracy is not None and r.stopped is None]
    return Comparison(
        run=run, names=names, leaderboard=leaderboard, front=[r.key for r in front],
        devices=compare_devices(run, names), class_f1=build_class_f1(run, leaderboard), paired=paired,
        recommendation=with_sentence(recommend(leaderboard, paired.groups, latency_budget_ms),
                                     more_labels_sentence(run, names)),
        errors=collect_errors(run, names, usable, examples_per_model) if usable else omitted_errors(mismatch),
        notes=[note for note in (mismatch, explain_race(run.results)) if note],
        latency_budget_ms=latency_budget_ms, price_per_hour=prices,
        slices=build_slice_table(run, ranked, usable), long_texts=long_text_rows(run, names),
    )


def with_sentence(recommendation: Recommendation, sentence: str | None) -> Recommendation:
    return replace(recommendation, sentences=[*recommendation.sentences, sentence]) if sentence else recommendation

"""The comparison of one run's trials: the numbers the Compare page and the report both show.

Pure logic over a `RunResult` (and, when given, the `LabeledSample` it evaluated): no plotly,
no streamlit. `build_comparison` is the one entry point; every part of a `Comparison` is a
dataclass, so pages and every report format read the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from core.dataset import LabeledSample
from core.metrics import ALPHA, PairedTest, compare_pairs
from core.results import RunResult, TrialResult

#: "Within one accuracy point of the best" means at most this far below it.
ONE_POINT = 0.01
#: Tolerance for comparing accuracies that are equal up to floating-point noise.
EPSILON = 1e-9
REFERENCE_DEVICE, REFERENCE_DTYPE = "cpu", "float32"
EXAMPLES_PER_MODEL = 5
MAX_DISAGREEMENTS = 10
EXCERPT_CHARS = 300
NUMBER_WORDS = {2: "both", 3: "all three", 4: "all four", 5: "all five"}


@dataclass(frozen=True)
class LeaderboardRow:
    """One trial as the leaderboard shows it; error rows keep their sentence and no numbers."""

    key: str
    name: str
    model: str
    kind: str
    device: str
    dtype: str
    status: str
    baseline: bool
    error: str | None = None
    accuracy: float | None = None
    accuracy_ci: tuple[float, float] | None = None
    macro_f1: float | None = None
    macro_f1_ci: tuple[float, float] | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    throughput_per_s: float | None = None
    load_s: float | None = None
    memory_mb: float | None = None
    parameters: int | None = None
    size_mb: float | None = None
    cost_per_1k: float | None = None
    sha: str | None = None
    on_front: bool = False
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class DeviceRow:
    """One device x dtype of a model, against that model's reference trial (float32 on the CPU)."""

    key: str
    name: str
    device: str
    dtype: str
    accuracy: float
    p50_ms: float
    throughput_per_s: float
    latency_speedup: float | None
    throughput_speedup: float | None
    agreement: float | None


@dataclass(frozen=True)
class DeviceGroup:
    model: str
    kind: str
    reference_key: str
    reference_name: str
    rows: list[DeviceRow]


@dataclass(frozen=True)
class ClassF1:
    """Per-class F1: one row per successful trial (leaderboard order), one column per label."""

    labels: list[str]
    keys: list[str]
    names: list[str]
    f1: list[list[float | None]]


@dataclass(frozen=True)
class PairedSummary:
    """The McNemar tests as a matrix, groups that cannot be told apart, and a sentence."""

    keys: list[str]
    names: list[str]
    p_holm: list[list[float | None]]
    groups: list[list[str]]
    sentence: str


@dataclass(frozen=True)
class Recommendation:
    most_accurate: str | None
    fastest_within_point: str | None
    under_budget: str | None
    latency_budget_ms: float | None
    sentences: list[str]


@dataclass(frozen=True)
class ErrorExample:
    row: int
    text: str
    pair: str | None
    truth: tuple[str, ...]
    predicted: tuple[str, ...]
    score: float
    others_right: list[str]


@dataclass(frozen=True)
class TrialErrors:
    """A trial's most confident mistakes (capped), and how many mistakes it made in all."""

    key: str
    name: str
    wrong: int
    mistakes: list[ErrorExample]


@dataclass(frozen=True)
class Disagreement:
    row: int
    text: str
    pair: str | None
    truth: tuple[str, ...]
    predictions: dict[str, tuple[tuple[str, ...], bool]]


@dataclass(frozen=True)
class ErrorExamples:
    included: bool
    per_trial: list[TrialErrors]
    disagreements: list[Disagreement]
    disagreeing_rows: int
    note: str | None = None


@dataclass(frozen=True)
class Comparison:
    """One run compared: `front` is the Pareto front's keys, fastest first; `names` maps keys to short names."""

    run: RunResult
    names: dict[str, str]
    leaderboard: list[LeaderboardRow]
    front: list[str]
    devices: list[DeviceGroup]
    class_f1: ClassF1
    paired: PairedSummary
    recommendation: Recommendation
    errors: ErrorExamples
    notes: list[str]
    latency_budget_ms: float | None = None
    price_per_hour: dict[str, float] = field(default_factory=dict)

    def row(self, key: str) -> LeaderboardRow:
        return next(r for r in self.leaderboard if r.key == key)

    @property
    def ok_rows(self) -> list[LeaderboardRow]:
        return [r for r in self.leaderboard if r.ok]


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
    return Comparison(
        run=run, names=names, leaderboard=leaderboard, front=[r.key for r in front],
        devices=compare_devices(run, names), class_f1=build_class_f1(run, leaderboard), paired=paired,
        recommendation=recommend(leaderboard, paired.groups, latency_budget_ms),
        errors=collect_errors(run, names, usable, examples_per_model) if usable else omitted_errors(mismatch),
        notes=[mismatch] if mismatch else [], latency_budget_ms=latency_budget_ms, price_per_hour=prices,
    )


# -- the sample ------------------------------------------------------------------------------


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


# -- names and the leaderboard ---------------------------------------------------------------


def name_trials(trials: list[TrialResult]) -> dict[str, str]:
    """A short name per trial key: the model, plus the kind/device/dtype only where they vary."""
    by_model: dict[str, list[TrialResult]] = {}
    for trial in trials:
        by_model.setdefault(trial.model, []).append(trial)
    names = {}
    for model, group in by_model.items():
        varying = [i for i in range(3) if len({(t.kind, t.device, t.dtype)[i] for t in group}) > 1]
        for trial in group:
            parts = [(trial.kind, trial.device, trial.dtype)[i] for i in varying]
            names[trial.key] = f"{model} ({', '.join(parts)})" if parts else model
    if len(set(names.values())) < len(names):
        return {trial.key: trial.key for trial in trials}
    return names


def is_baseline(trial: TrialResult) -> bool:
    return trial.kind.startswith("baseline-")


def build_leaderboard(run: RunResult, names: dict[str, str], prices: dict[str, float]) -> list[LeaderboardRow]:
    """Successful trials best first (accuracy, then macro-F1, then speed), then error rows."""
    front = set(pareto_front({t.key: (t.metrics.accuracy, t.latency.p50_ms) for t in measured(run.results)}))
    rows = [leaderboard_row(trial, names[trial.key], prices, trial.key in front) for trial in run.results]
    ok = sorted((r for r in rows if r.ok and r.accuracy is not None), key=_rank_key)
    ranked = {r.key for r in ok}
    return ok + [r for r in rows if r.key not in ranked]


def _rank_key(row: LeaderboardRow) -> tuple:
    return (-row.accuracy, -(row.macro_f1 or 0.0), row.p50_ms if row.p50_ms is not None else float("inf"))


def measured(trials: list[TrialResult]) -> list[TrialResult]:
    return [t for t in trials if t.ok and t.metrics is not None and t.latency is not None]


def leaderboard_row(trial: TrialResult, name: str, prices: dict[str, float], on_front: bool) -> LeaderboardRow:
    m, lat = trial.metrics, trial.latency
    return LeaderboardRow(
        key=trial.key, name=name, model=trial.model, kind=trial.kind, device=trial.device, dtype=trial.dtype,
        status=trial.status, baseline=is_baseline(trial), error=trial.error,
        accuracy=m.accuracy if m else None, accuracy_ci=tuple(m.accuracy_ci) if m else None,
        macro_f1=m.macro_f1 if m else None, macro_f1_ci=tuple(m.macro_f1_ci) if m else None,
        p50_ms=lat.p50_ms if lat else None, p95_ms=lat.p95_ms if lat else None,
        throughput_per_s=lat.throughput_per_s if lat else None, load_s=trial.load_s, memory_mb=trial.memory_mb,
        parameters=trial.parameters, size_mb=trial.size_mb,
        cost_per_1k=cost_per_1k(price_for(trial.device, prices), lat.throughput_per_s if lat else None),
        sha=trial.sha, on_front=on_front, settings=dict(trial.settings), notes=list(trial.notes),
        warnings=list(trial.warnings),
    )


def price_for(device: str, prices: dict[str, float]) -> float | None:
    """The price per hour given for `device`, or for its family ('cuda' for 'cuda:1')."""
    if device in prices:
        return prices[device]
    return prices.get(device.split(":", 1)[0])


def cost_per_1k(price_per_hour: float | None, throughput_per_s: float | None) -> float | None:
    """What 1,000 predictions cost at the measured throughput, in the unit of the price."""
    if price_per_hour is None or not throughput_per_s:
        return None
    return price_per_hour / 3600 / throughput_per_s * 1000


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Keys not dominated in (accuracy up, latency down), fastest first.

    A sweep from the fastest point: a point is on the front when it is more accurate than
    every faster point (or ties the best exactly, in both accuracy and latency).
    """
    front, best_accuracy, best_latency = [], float("-inf"), None
    for key, (accuracy, latency) in sorted(points.items(), key=lambda item: (item[1][1], -item[1][0])):
        if accuracy > best_accuracy:
            front.append(key)
            best_accuracy, best_latency = accuracy, latency
        elif accuracy == best_accuracy and latency == best_latency:
            front.append(key)
    return front


# -- devices and dtypes ----------------------------------------------------------------------


def compare_devices(run: RunResult, names: dict[str, str]) -> list[DeviceGroup]:
    """For each model run on more than one device or dtype: speed-up and agreement with its reference."""
    groups: dict[tuple[str, str], list[TrialResult]] = {}
    for trial in measured(run.results):
        if not is_baseline(trial):
            groups.setdefault((trial.model, trial.kind), []).append(trial)
    return [device_group(trials, names) for trials in groups.values() if len(trials) > 1]


def reference_trial(trials: list[TrialResult]) -> TrialResult:
    """float32 on the CPU if it ran, else float32 anywhere, else the first trial."""
    for wanted in ((REFERENCE_DEVICE, REFERENCE_DTYPE), (None, REFERENCE_DTYPE)):
        for trial in trials:
            if trial.dtype == wanted[1] and wanted[0] in (None, trial.device):
                return trial
    return trials[0]


def device_group(trials: list[TrialResult], names: dict[str, str]) -> DeviceGroup:
    reference = reference_trial(trials)
    rows = [
        DeviceRow(
            key=t.key, name=names[t.key], device=t.device, dtype=t.dtype, accuracy=t.metrics.accuracy,
            p50_ms=t.latency.p50_ms, throughput_per_s=t.latency.throughput_per_s,
            latency_speedup=_ratio(reference.latency.p50_ms, t.latency.p50_ms),
            throughput_speedup=_ratio(t.latency.throughput_per_s, reference.latency.throughput_per_s),
            agreement=agreement(reference, t),
        )
        for t in trials
    ]
    return DeviceGroup(trials[0].model, trials[0].kind, reference.key, names[reference.key], rows)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def agreement(reference: TrialResult, trial: TrialResult) -> float | None:
    """Share of rows where `trial` predicts exactly the labels `reference` predicts."""
    theirs = {p.row: frozenset(p.labels) for p in reference.predictions}
    shared = [p for p in trial.predictions if p.row in theirs]
    if not shared:
        return None
    return sum(frozenset(p.labels) == theirs[p.row] for p in shared) / len(shared)


# -- per-class F1 ----------------------------------------------------------------------------


def build_class_f1(run: RunResult, leaderboard: list[LeaderboardRow]) -> ClassF1:
    labels = list(run.dataset.labels)
    trials = {t.key: t for t in run.results}
    rows = [r for r in leaderboard if r.ok and trials[r.key].metrics is not None]
    matrix = [
        [trials[r.key].metrics.per_class[label].f1 if label in trials[r.key].metrics.per_class else None for label in labels]
        for r in rows
    ]
    return ClassF1(labels=labels, keys=[r.key for r in rows], names=[r.name for r in rows], f1=matrix)


# -- paired tests ----------------------------------------------------------------------------


def paired_tests_of(run: RunResult) -> list[PairedTest]:
    """The run's stored tests; computed from the predictions for results that lack them."""
    if run.comparisons:
        return list(run.comparisons)
    correct = {t.key: np.array([p.correct for p in t.predictions]) for t in run.results if t.ok and t.predictions}
    sizes = {len(c) for c in correct.values()}
    return compare_pairs(correct) if len(sizes) == 1 else []


def summarize_tests(leaderboard: list[LeaderboardRow], tests: list[PairedTest]) -> PairedSummary:
    rows = [r for r in leaderboard if r.ok and r.accuracy is not None]
    keys, names = [r.key for r in rows], {r.key: r.name for r in rows}
    by_pair = {frozenset((t.a, t.b)): t for t in tests}
    matrix = [[None if a == b else _p_of(by_pair, a, b) for b in keys] for a in keys]
    accuracy = {r.key: r.accuracy for r in rows}
    groups = group_indistinguishable(keys, by_pair)
    return PairedSummary(
        keys=keys, names=[names[k] for k in keys], p_holm=matrix, groups=groups,
        sentence=describe_groups(groups, keys, accuracy, by_pair, names),
    )


def _p_of(by_pair: dict, a: str, b: str) -> float | None:
    test = by_pair.get(frozenset((a, b)))
    return test.p_holm if test else None


def _different(by_pair: dict, a: str, b: str) -> bool:
    test = by_pair.get(frozenset((a, b)))
    return bool(test and test.different)


def group_indistinguishable(keys: list[str], by_pair: dict) -> list[list[str]]:
    """Tiers, best first: the leader of what remains plus everything the tests cannot tell from it.

    `keys` must be ordered best first.
    """
    remaining, groups = list(keys), []
    while remaining:
        leader = remaining[0]
        group = [k for k in remaining if k == leader or not _different(by_pair, leader, k)]
        groups.append(group)
        remaining = [k for k in remaining if k not in group]
    return groups


def describe_groups(groups, keys, accuracy, by_pair, names) -> str:
    """The paired tests in plain words, e.g. "A and B cannot be told apart on this sample; C is worse than both"."""
    if not keys:
        return "No trial succeeded, so there is nothing to compare."
    if len(keys) == 1:
        return f"Only {names[keys[0]]} succeeded, so there is nothing to compare it with."
    top = groups[0]
    rest = [k for k in keys if k not in top]
    if len(top) == 1:
        clauses = [f"{names[top[0]]} is more accurate than {join_names([names[k] for k in rest])} on this sample"]
    else:
        clauses = [f"{join_names([names[k] for k in top])} cannot be told apart on this sample"]
        clauses += _relations_to_top(rest, top, accuracy, by_pair, names)
    method = (
        f"(McNemar's exact test on the same rows, Holm-adjusted over all {len(by_pair)} pairs; "
        f"a difference counts when p < {ALPHA})."
    )
    return "; ".join(clauses) + " " + method


def _relations_to_top(rest, top, accuracy, by_pair, names) -> list[str]:
    clauses, worse_than_all = [], []
    for key in rest:
        worse = [t for t in top if _different(by_pair, key, t) and accuracy[t] > accuracy[key]]
        if worse == top:
            worse_than_all.append(key)
            continue
        better = [t for t in top if _different(by_pair, key, t) and accuracy[t] < accuracy[key]]
        tied = [t for t in top if t not in worse and t not in better]
        parts = [f"worse than {join_names([names[t] for t in worse])}"] if worse else []
        parts += [f"better than {join_names([names[t] for t in better])}"] if better else []
        parts += [f"cannot be told apart from {join_names([names[t] for t in tied])}"] if tied else []
        clauses.append(f"{names[key]} is " + " but ".join(parts))
    if worse_than_all:
        verb = "is" if len(worse_than_all) == 1 else "are"
        everyone = NUMBER_WORDS.get(len(top), f"all {len(top)}")
        clauses.insert(0, f"{join_names([names[k] for k in worse_than_all])} {verb} worse than {everyone}")
    return clauses


def join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# -- the recommendation ----------------------------------------------------------------------


def recommend(leaderboard: list[LeaderboardRow], groups: list[list[str]], latency_budget_ms: float | None) -> Recommendation:
    """Among the models (baselines only when nothing else ran): the most accurate, the fastest within
    one accuracy point of it, and the most accurate within a p95 latency budget per row."""
    rows = [r for r in leaderboard if r.ok and r.accuracy is not None and r.p50_ms is not None]
    if not rows:
        return Recommendation(None, None, None, latency_budget_ms, ["No trial succeeded, so there is nothing to recommend."])
    candidates = [r for r in rows if not r.baseline] or rows
    best = candidates[0]  # the leaderboard is sorted best first
    close = [r for r in candidates if r.accuracy >= best.accuracy - ONE_POINT - EPSILON]
    fastest = min(close, key=lambda r: (r.p50_ms, -r.accuracy))
    sentences = [_best_sentence(best), _fastest_sentence(best, fastest)]
    sentences += _baseline_sentence(rows, best)
    if groups and len(groups[0]) > 1:
        sentences.append(
            f"The {len(groups[0])} most accurate trials cannot be told apart on this sample; "
            "label more rows before choosing between them on accuracy alone."
        )
    under = None
    if latency_budget_ms is not None:
        under, sentence = _under_budget(candidates, latency_budget_ms)
        sentences.append(sentence)
    return Recommendation(best.key, fastest.key, under.key if under else None, latency_budget_ms, sentences)


def _best_sentence(best: LeaderboardRow) -> str:
    low, high = best.accuracy_ci
    return (
        f"Most accurate{' (only baselines succeeded)' if best.baseline else ''}: {best.name}, accuracy {best.accuracy:.3f} "
        f"(95% CI {low:.3f} to {high:.3f}), macro-F1 {best.macro_f1:.3f}, {best.p50_ms:.2f} ms per row (p50)."
    )


def _baseline_sentence(rows: list[LeaderboardRow], best: LeaderboardRow) -> list[str]:
    """A warning when a baseline is as accurate as the best model."""
    baseline = next((r for r in rows if r.baseline), None)
    if best.baseline or baseline is None or baseline.accuracy < best.accuracy - EPSILON:
        return []
    return [
        f"The baseline {baseline.name} is as accurate ({baseline.accuracy:.3f}): no model beats it on this sample, "
        f"and it runs at {baseline.p50_ms:.2f} ms per row (p50)."
    ]


def _fastest_sentence(best: LeaderboardRow, fastest: LeaderboardRow) -> str:
    if fastest.key == best.key:
        return "It is also the fastest model within one accuracy point of it."
    speedup = _ratio(best.p50_ms, fastest.p50_ms)
    return (
        f"Fastest within one accuracy point of the best: {fastest.name}, accuracy {fastest.accuracy:.3f}, "
        f"{fastest.p50_ms:.2f} ms per row (p50) against {best.p50_ms:.2f} ms"
        + (f", {speedup:.1f}x faster." if speedup else ".")
    )


def _under_budget(rows: list[LeaderboardRow], budget_ms: float) -> tuple[LeaderboardRow | None, str]:
    within = [r for r in rows if r.p95_ms is not None and r.p95_ms <= budget_ms]
    if not within:
        quickest = min(rows, key=lambda r: r.p95_ms if r.p95_ms is not None else float("inf"))
        return None, (
            f"No model meets the latency budget of {budget_ms:g} ms per row (p95); "
            f"the quickest is {quickest.name} at {quickest.p95_ms:.2f} ms."
        )
    chosen = within[0]  # best first
    return chosen, (
        f"Best under the latency budget of {budget_ms:g} ms per row (p95): {chosen.name}, "
        f"accuracy {chosen.accuracy:.3f}, p95 {chosen.p95_ms:.2f} ms."
    )


# -- error examples --------------------------------------------------------------------------


def collect_errors(run: RunResult, names: dict[str, str], sample: LabeledSample, examples_per_model: int) -> ErrorExamples:
    """Each model's most confident mistakes (capped), and rows where the models disagree."""
    models = [t for t in run.results if t.ok and t.predictions and not is_baseline(t)]
    per_trial = [trial_errors(t, models, names, sample, examples_per_model) for t in models]
    rows = disagreeing_rows(models)
    shown = [disagreement(row, models, names, sample) for row in rows[:MAX_DISAGREEMENTS]]
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

"""Short names for trials, the leaderboard with its Pareto front and costs, devices and dtypes, per-class F1."""

from __future__ import annotations

from core.compare.model import (
    REFERENCE_DEVICE, REFERENCE_DTYPE, REFERENCE_RUNTIME, ClassF1, DeviceGroup, DeviceRow, LeaderboardRow,
)
from core.results import RunResult, TrialResult


def name_trials(trials: list[TrialResult]) -> dict[str, str]:
    """A short name per trial key: the model, plus the kind/device/dtype only where they vary."""
    by_model: dict[str, list[TrialResult]] = {}
    for trial in trials:
        by_model.setdefault(trial.model, []).append(trial)
    names = {}
    for model, group in by_model.items():
        varying = [i for i in range(5) if len({facets(t)[i] for t in group}) > 1]
        for trial in group:
            parts = [facets(trial)[i] for i in varying]
            names[trial.key] = f"{model} ({', '.join(parts)})" if parts else model
    if len(set(names.values())) < len(names):
        return {trial.key: trial.key for trial in trials}
    return names


def facets(trial: TrialResult) -> tuple[str, str, str, str, str]:
    """What can tell trials of one model apart: kind, device, dtype, runtime, long-text strategy."""
    return trial.kind, trial.device, trial.dtype, trial.runtime, ", ".join(trial.variant) or "truncate"


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
    """Finished trials first: a trial stopped early in a race lost to one of them on the rows it saw."""
    return (row.stopped is not None, -row.accuracy, -(row.macro_f1 or 0.0), row.p50_ms if row.p50_ms is not None else float("inf"))


def measured(trials: list[TrialResult]) -> list[TrialResult]:
    """Trials with scores on every row and latency (a trial stopped early in a race saw fewer rows)."""
    return [t for t in trials if t.ok and t.metrics is not None and t.latency is not None and not t.stopped_early]


def leaderboard_row(trial: TrialResult, name: str, prices: dict[str, float], on_front: bool) -> LeaderboardRow:
    m, lat = trial.metrics, trial.latency
    return LeaderboardRow(
        key=trial.key, name=name, model=trial.model, kind=trial.kind, device=trial.device, dtype=trial.dtype,
        runtime=trial.runtime, status=trial.status, baseline=is_baseline(trial), error=trial.error,
        accuracy=m.accuracy if m else None, accuracy_ci=tuple(m.accuracy_ci) if m else None,
        macro_f1=m.macro_f1 if m else None, macro_f1_ci=tuple(m.macro_f1_ci) if m else None,
        p50_ms=lat.p50_ms if lat else None, p95_ms=lat.p95_ms if lat else None,
        throughput_per_s=lat.throughput_per_s if lat else None, load_s=trial.load_s, memory_mb=trial.memory_mb,
        parameters=trial.parameters, size_mb=trial.size_mb,
        cost_per_1k=cost_per_1k(price_for(trial.device, prices), lat.throughput_per_s if lat else None),
        sha=trial.sha, on_front=on_front, settings=dict(trial.settings), notes=list(trial.notes),
        warnings=list(trial.warnings), coverage=trial.coverage,
        stopped=trial.race.sentence if trial.stopped_early else None,
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


def compare_devices(run: RunResult, names: dict[str, str]) -> list[DeviceGroup]:
    """For each model run on more than one device or dtype: speed-up and agreement with its reference."""
    groups: dict[tuple[str, str], list[TrialResult]] = {}
    for trial in measured(run.results):
        if not is_baseline(trial):
            groups.setdefault((trial.model, trial.kind), []).append(trial)
    return [device_group(trials, names) for trials in groups.values() if len(trials) > 1]


def reference_trial(trials: list[TrialResult]) -> TrialResult:
    """torch float32 on the CPU if it ran, else torch float32 anywhere, else float32, else the first trial."""
    for device, runtime in ((REFERENCE_DEVICE, REFERENCE_RUNTIME), (None, REFERENCE_RUNTIME), (None, None)):
        for trial in trials:
            if trial.dtype == REFERENCE_DTYPE and device in (None, trial.device) and runtime in (None, trial.runtime):
                return trial
    return trials[0]


def device_group(trials: list[TrialResult], names: dict[str, str]) -> DeviceGroup:
    reference = reference_trial(trials)
    rows = [
        DeviceRow(
            key=t.key, name=names[t.key], device=t.device, dtype=t.dtype, runtime=t.runtime, accuracy=t.metrics.accuracy,
            p50_ms=t.latency.p50_ms, throughput_per_s=t.latency.throughput_per_s,
            latency_speedup=ratio(reference.latency.p50_ms, t.latency.p50_ms),
            throughput_speedup=ratio(t.latency.throughput_per_s, reference.latency.throughput_per_s),
            agreement=agreement(reference, t),
        )
        for t in trials
    ]
    return DeviceGroup(trials[0].model, trials[0].kind, reference.key, names[reference.key], rows)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def agreement(reference: TrialResult, trial: TrialResult) -> float | None:
    """Share of rows where `trial` predicts exactly the labels `reference` predicts."""
    theirs = {p.row: frozenset(p.labels) for p in reference.predictions}
    shared = [p for p in trial.predictions if p.row in theirs]
    if not shared:
        return None
    return sum(frozenset(p.labels) == theirs[p.row] for p in shared) / len(shared)


def build_class_f1(run: RunResult, leaderboard: list[LeaderboardRow]) -> ClassF1:
    labels = list(run.dataset.labels)
    trials = {t.key: t for t in run.results}
    rows = [r for r in leaderboard if r.ok and trials[r.key].metrics is not None]
    matrix = [
        [trials[r.key].metrics.per_class[label].f1 if label in trials[r.key].metrics.per_class else None for label in labels]
        for r in rows
    ]
    return ClassF1(labels=labels, keys=[r.key for r in rows], names=[r.name for r in rows], f1=matrix)

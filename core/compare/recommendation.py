"""The recommendation: the sentences that say which trial to pick and why."""

from __future__ import annotations

from core.compare.model import EPSILON, ONE_POINT, LeaderboardRow, Recommendation
from core.compare.leaderboard import ratio
from core.results import RunResult


def recommend(leaderboard: list[LeaderboardRow], groups: list[list[str]], latency_budget_ms: float | None) -> Recommendation:
    """Among the models (baselines only when nothing else ran): the most accurate, the fastest within
    one accuracy point of it, and the most accurate within a p95 latency budget per row."""
    rows = [r for r in leaderboard if r.ok and r.accuracy is not None and r.p50_ms is not None and r.stopped is None]
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
    speedup = ratio(best.p50_ms, fastest.p50_ms)
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


def more_labels_sentence(run: RunResult, names: dict[str, str]) -> str | None:
    """Whether the leader among the trials with a learning curve changes with 4x the labels (an extrapolation)."""
    curves = {t.key: t.learning_curve for t in run.succeeded if t.learning_curve and t.learning_curve.projected(4.0)}
    if len(curves) < 2:
        return None
    now = max(curves, key=lambda key: curves[key].measured[-1].accuracy)
    later = max(curves, key=lambda key: curves[key].projected(4.0).accuracy)
    rows = curves[now].projected(4.0).train_rows
    if later == now:
        return (f"With 4x the labels (about {rows:.0f} rows per fold), {names[now]} is projected to stay ahead of the "
                "other trials with a learning curve (an extrapolation, see Would more labels help?).")
    ahead, behind = curves[later].projected(4.0).accuracy, curves[now].projected(4.0).accuracy
    return (f"With 4x the labels (about {rows:.0f} rows per fold), {names[later]} is projected to overtake {names[now]} "
            f"({ahead:.3f} against {behind:.3f}): an extrapolation of a power law fitted to four points, so label more "
            "rows and measure again before choosing on it.")

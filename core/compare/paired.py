"""Paired tests between trials and which trials cannot be told apart."""

from __future__ import annotations

import numpy as np

from core.compare.model import NUMBER_WORDS, LeaderboardRow, PairedSummary
from core.metrics import ALPHA, PairedTest, compare_pairs, indistinguishable_tiers
from core.results import RunResult


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
    """Tiers, best first (`keys` ordered best first): the rule of `core.metrics.indistinguishable_tiers`."""
    return indistinguishable_tiers(keys, list(by_pair.values()))


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

"""Racing: evaluate many candidates on a growing prefix of one seeded shuffle, and stop clear losers early.

The procedure (what the report explains): the sample's rows are shuffled once with a seed; every
candidate is scored on the same first rows of that order (by default 50, then 75, 112, 168, ...,
and all rows at the end). After each round but the last, the leader is the candidate with the most
rows right so far; every other candidate is compared with it by McNemar's exact test on the rows
both saw, the p-values are Holm-adjusted across those candidates, and a candidate that is less
accurate than the leader with an adjusted p below alpha stops. Survivors go on to all rows.

Pure: no models here. `run_race` asks a callback for each candidate's correctness on new rows, so
the same rounds run trials in the worker, in the CLI, or on synthetic streams in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError
from scipy import stats

from core.metrics import ALPHA, holm
from core.results import TrialResult

DEFAULT_FIRST_ROWS = 50
DEFAULT_GROWTH = 1.5


@dataclass(frozen=True)
class RaceSettings:
    """How a race grows its rounds and when it stops a candidate."""

    alpha: float = ALPHA
    first_rows: int = DEFAULT_FIRST_ROWS
    growth: float = DEFAULT_GROWTH
    seed: int = 0

    def check(self) -> None:
        if not 0 < self.alpha < 1:
            raise InputError(f"The racing alpha {self.alpha:g} must be between 0 and 1.", hint="Use e.g. 0.05.")
        if self.first_rows < 10:
            raise InputError(f"The first racing round of {self.first_rows} rows is too small for a paired test.",
                             hint="Use at least 10 rows, e.g. 50.")
        if self.growth < 1.5:
            raise InputError(f"The racing growth factor {self.growth:g} must be at least 1.5: every round loads "
                             "each surviving model again, so rounds must grow fast.", hint="Use e.g. 2.")


def round_sizes(total: int, settings: RaceSettings) -> list[int]:
    """Rows seen after each round: first_rows, growing by `growth`, and `total` at the end."""
    sizes, size = [], settings.first_rows
    while size < total:
        sizes.append(size)
        size = max(size + 1, int(round(size * settings.growth)))
    return sizes + [total]


def race_order(total: int, seed: int) -> list[int]:
    """The seeded shuffle of row indices whose prefixes the rounds score."""
    return np.random.default_rng(seed).permutation(total).tolist()


@dataclass(frozen=True)
class RaceStop:
    """Why a candidate stopped: the leader it lost to on the first `rows` rows, and the test."""

    key: str
    rows: int
    leader: str
    only_leader_correct: int
    only_candidate_correct: int
    p_value: float
    p_holm: float


def leader_of(correct: dict[str, np.ndarray]) -> str:
    """The candidate with the most rows right (the first of equals, in the order given)."""
    return max(correct, key=lambda key: int(correct[key].sum()))


def decide_stops(correct: dict[str, np.ndarray], *, alpha: float = ALPHA,
                 protected: Collection[str] = ()) -> list[RaceStop]:
    """The candidates to stop, given each one's correctness on the same rows (equal-length arrays).

    Each candidate but the leader is tested against it (McNemar exact), Holm-adjusted across those
    tests; `protected` candidates can lead but never stop.
    """
    if len(correct) < 2:
        return []
    leader = leader_of(correct)
    rows = len(correct[leader])
    tested = [key for key in correct if key != leader and key not in protected]
    raw = [mcnemar_worse(correct[leader], correct[key]) for key in tested]
    adjusted = holm([p for _, _, p in raw]) if raw else []
    return [
        RaceStop(key, rows, leader, only_leader, only_key, p, q)
        for key, (only_leader, only_key, p), q in zip(tested, raw, adjusted)
        if q < alpha and only_leader > only_key
    ]


def mcnemar_worse(leader: np.ndarray, candidate: np.ndarray) -> tuple[int, int, float]:
    """McNemar's exact test, one-sided: rows only the leader / only the candidate got right, and the
    p-value of so few candidate-only rows if both were equally accurate. One-sided because the
    question is only whether the candidate is worse (the leader never has fewer rows right)."""
    only_leader = int((leader & ~candidate).sum())
    only_candidate = int((~leader & candidate).sum())
    if only_leader + only_candidate == 0:
        return only_leader, only_candidate, 1.0
    test = stats.binomtest(only_leader, only_leader + only_candidate, 0.5, alternative="greater")
    return only_leader, only_candidate, float(test.pvalue)


class RaceEnded(Exception):
    """Raised by a round callback to end the race at once (the run was cancelled or interrupted)."""


@dataclass
class RaceRecord:
    """What a race did: its order and rounds, the rows each candidate saw, who stopped and who failed."""

    order: list[int]
    sizes: list[int]
    rows_seen: dict[str, int] = field(default_factory=dict)
    stops: dict[str, RaceStop] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    @property
    def survivors(self) -> list[str]:
        return [key for key in self.rows_seen if key not in self.stops and key not in self.failed]

    @property
    def model_rows(self) -> int:
        """Rows scored over all candidates (what a full run would make len(order) x candidates)."""
        return sum(self.rows_seen.values())

    @property
    def saved_share(self) -> float:
        full = len(self.order) * len(self.rows_seen)
        return 1 - self.model_rows / full if full else 0.0


#: (candidate, row indices of the new rows) -> its correctness on them, or None if it failed.
RowsRunner = Callable[[str, list[int]], "np.ndarray | None"]


def run_race(keys: list[str], total: int, settings: RaceSettings, run_rows: RowsRunner, *,
             protected: Collection[str] = (), on_stop: Callable[[RaceStop], None] | None = None) -> RaceRecord:
    """Race `keys` over `total` rows; `protected` may be a live set the callback adds to."""
    record = RaceRecord(order=race_order(total, settings.seed), sizes=round_sizes(total, settings))
    record.rows_seen = {key: 0 for key in keys}
    seen: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    start = 0
    for index, size in enumerate(record.sizes):
        rows = record.order[start:size]
        for key in record.survivors:
            correct = run_rows(key, rows)
            if correct is None:
                record.failed.add(key)
                continue
            seen[key].append(np.asarray(correct, dtype=bool))
            record.rows_seen[key] = size
        start = size
        if index < len(record.sizes) - 1:
            _stop_losers(record, seen, settings.alpha, protected, on_stop)
    return record


def _stop_losers(record: RaceRecord, seen: dict[str, list[np.ndarray]], alpha: float, protected: Collection[str],
                 on_stop: Callable[[RaceStop], None] | None) -> None:
    correct = {key: np.concatenate(seen[key]) for key in record.survivors}
    for stop in decide_stops(correct, alpha=alpha, protected=protected):
        record.stops[stop.key] = stop
        if on_stop is not None:
            on_stop(stop)


def explain_race(trials: list[TrialResult]) -> str | None:
    """The procedure and what it saved, in words, for a run whose trials raced (None otherwise)."""
    raced = [t for t in trials if t.race is not None]
    if not raced:
        return None
    settings = RaceSettings(**next(t.settings["race"] for t in raced if "race" in t.settings))
    total = raced[0].race.rows_total
    stopped = [t for t in raced if t.race.stopped]
    seen = sum(t.race.rows_seen for t in raced)
    sizes = ", ".join(f"{size:,}" for size in round_sizes(total, settings))
    return (
        f"Racing: the {total:,} rows were shuffled with seed {settings.seed} and every raced trial was scored on the "
        f"same first {sizes} rows. After each round but the last, each trial was compared with the leader (the most "
        "rows right so far) by McNemar's exact test, one-sided, on the rows both saw, Holm-adjusted across the "
        f"trials; a less accurate one with p < {settings.alpha:g} stopped. {len(stopped)} of {len(raced)} raced "
        f"trials stopped early, so {seen:,} of {total * len(raced):,} model-rows were scored. A stopped trial's "
        "accuracy and interval are on the rows it saw; it is ranked after the finished ones and left out of the "
        "paired tests, Pareto front, slices and ensembles. Cross-validated kinds, rules and baselines are not raced: "
        "they ran on all rows, and could lead but not stop. Testing after every round stops a trial as accurate as "
        "the leader more often than alpha alone says (about one in seven of five equally accurate trials in our "
        "simulation, tests/test_racing.py); a smaller alpha stops fewer, later."
    )

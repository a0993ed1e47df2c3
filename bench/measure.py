"""Side-by-side timing: a warm-up of every method, then repeats interleaved round by round.

Interleaving matters on shared machines: the speed of a VM drifts by 10-20% over minutes,
and timing method A five times then method B five times would put that drift into the
ratio. Each round runs every method once (and the matmul rate, when asked), so a ratio
is taken between runs that were seconds apart; medians are over rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Timings:
    """Wall seconds per method and round, plus the last output of each method."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    outputs: dict[str, object] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def median_ratio(self, numerator: str, denominator: str) -> float:
        """Median over rounds of seconds[numerator] / seconds[denominator] (same-round pairs)."""
        pairs = zip(self.seconds[numerator], self.seconds[denominator])
        return statistics.median(a / b for a, b in pairs)


def time_call(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    output = function()
    return time.perf_counter() - started, output


def interleaved(
    methods: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmups: dict[str, Callable[[], object]] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> Timings:
    """Warm every method up (on its warm-up call, else a full call), then `repeats` rounds."""
    timings = Timings({name: [] for name in methods})
    for name, method in methods.items():
        (warmups or {}).get(name, method)()
    for round_index in range(repeats):
        for name, method in methods.items():
            seconds, timings.outputs[name] = time_call(method)
            timings.seconds[name].append(seconds)
            log(f"  round {round_index + 1}/{repeats} {name}: {seconds:.3f} s")
    return timings

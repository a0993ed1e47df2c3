"""Latency statistics and peak memory measurement."""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from core.devices import synchronize


@dataclass(frozen=True)
class Latency:
    """Per-row latency in milliseconds, computed once from the raw timings."""

    count: int
    mean_ms: float
    stdev_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def from_values(cls, values_ms: list[float]) -> Latency:
        if not values_ms:
            raise ValueError("latency needs at least one timing")
        values = np.asarray(values_ms, dtype=float)
        p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
        stdev = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return cls(len(values), float(values.mean()), stdev, float(p50), float(p90), float(p95), float(p99))


class Stopwatch:
    """Wall time of a block, synchronized with the device so GPU work is counted."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.elapsed_s = 0.0

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.elapsed_s = time.perf_counter() - self._started


#: How often the full pass hands freed heap memory back to the system (see `give_back_freed_memory`).
TRIM_INTERVAL_S = 0.5


def give_back_freed_memory() -> bool:
    """Return the C heap's free pages to the system (glibc's malloc_trim); False where there is none.

    Batches of many shapes leave freed buffers in the heap, where glibc keeps them resident, so
    without this a trial's memory grows with its row count (measured: a 5,000-row MiniLM trial
    needed 471 MB instead of 307 MB). Trimming every TRIM_INTERVAL_S keeps it flat; forcing every
    large buffer onto mmap instead (M_MMAP_THRESHOLD) did too, but cost 10% of the throughput.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # 1 if it released anything, which we need not know
        return True
    except (OSError, AttributeError):
        return False


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), else the lifetime peak."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak memory during a block: resident memory sampled on CPU, allocator peak on CUDA.

    On CPU the peak includes everything the process holds (interpreter, libraries), so
    `peak_mb` is what the trial needs from the machine; `baseline_mb` is what was there before.
    """

    def __init__(self, device: str = "cpu", interval_s: float = 0.005) -> None:
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.baseline_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline_mb = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            self.baseline_mb = self.peak_mb = current_rss_mb()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, current_rss_mb())

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, current_rss_mb())

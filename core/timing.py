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


#: glibc's M_MMAP_THRESHOLD parameter number, and the threshold we fix it at (its default start).
M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES = -3, 128 * 1024


def release_freed_buffers_promptly() -> bool:
    """Have glibc give large freed buffers back to the system at once.

    By default glibc raises its mmap threshold each time a large buffer is freed, after which
    buffers of that size come from the heap and stay resident when freed. Batches of many
    shapes then ratchet resident memory up with the number of rows (measured: a 5,000-row
    MiniLM trial needed 471 MB instead of 307 MB). Fixing the threshold stops that. Returns
    False where the C library is not glibc.
    """
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
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

"""Scale and memory: run_trial at growing row counts, and several models in one process.

Peak resident memory is a per-process high-water mark, so each measurement runs in a fresh
interpreter (`python -m bench.scale ...`, one JSON line out) unless `isolate=False` (the smoke
test), where the same function runs in-process and the memory figures only show the shape.
Everything goes through core.runner.run_trial: load, prepare, first call, warm-up, latency,
the timed full pass, scoring - what a user's trial does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from core.paths import ROOT


@dataclass
class TrialMemory:
    """One run_trial: its throughput and memory, and the process's peak so far."""

    model: str
    kind: str
    rows: int
    status: str
    throughput_per_s: float
    trial_memory_mb: float  # run_trial's own figure: sampled peak RSS minus RSS before the trial
    process_peak_mb: float  # this process's resident high-water mark after the trial
    error: str | None = None


def peak_rss_mb() -> float:
    """This process's resident high-water mark (VmHWM). Not ru_maxrss: Linux carries that over
    from the parent through fork and exec, so every fresh interpreter would report at least the
    benchmark's own size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_trials(models: list[tuple[str, str]], rows: int, repeats: int = 1) -> dict:
    """`repeats` run_trial calls per (folder, kind), in order, in this process."""
    from core.runner import TrialSpec, run_trial
    from core.timing import current_rss_mb
    from bench.workload import load_sample, repeat_rows

    sample = repeat_rows(load_sample(), rows)
    baseline_mb = current_rss_mb()
    trials = []
    for folder, kind in models:
        for _ in range(repeats):
            result = run_trial(TrialSpec(kind=kind, model=folder, batch_size=32), sample)
            throughput = result.latency.throughput_per_s if result.latency else 0.0
            trials.append(TrialMemory(
                folder, kind, rows, result.status, throughput, result.memory_mb or 0.0, peak_rss_mb(), result.error,
            ))
    return {"baseline_mb": baseline_mb, "trials": [asdict(t) for t in trials]}


def measure(models: list[tuple[str, str]], rows: int, repeats: int = 1, *, isolate: bool = True) -> dict:
    """run_trials in a fresh interpreter (isolate) or in this one."""
    if not isolate:
        return run_trials(models, rows, repeats)
    command = [sys.executable, "-m", "bench.scale", "--rows", str(rows), "--repeats", str(repeats)]
    command += [f"{folder}::{kind}" for folder, kind in models]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_throughput(result: dict) -> float:
    return statistics.median(t["throughput_per_s"] for t in result["trials"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("models", nargs="+", help="FOLDER::KIND, run in this order")
    args = parser.parse_args(argv)
    models = [tuple(item.rsplit("::", 1)) for item in args.models]
    print(json.dumps(run_trials([(str(Path(f)), k) for f, k in models], args.rows, args.repeats)))


if __name__ == "__main__":
    main()

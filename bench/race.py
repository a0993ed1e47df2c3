"""Racing against the full run: `python -m bench.race` (issue 16, part 2; see BENCHMARKS.md, "Racing").

Ten text classifiers of one size (the demo ticket classifier, one copy with a lightly perturbed head
and eight with damaged heads: labels rotated or drowned in noise), on 500 rows of the shipped
sample. Both runs go through the same engine in this process, one after the other: `run_plan`
(every model on every row) and `run_plan_raced` (core.race_job). Printed: wall time of each, the
model-rows scored, the winner of each, and each candidate's fate in the race.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bench.workload import load_sample, repeat_rows
from core.devices import cpu_name
from core.paths import ROOT
from core.race_job import run_plan_raced
from core.racing import RaceSettings
from core.runner import TrialSpec, run_plan

DEMO = ROOT / "demo_models" / "ticket-classifier"
HEAD = ("classifier.weight", "classifier.bias")
NOISE = (10.0, 20.0, 40.0, 80.0)  # times the head's spread: from clearly worse to always wrong


def damaged_copy(source: Path, folder: Path, *, rotate: int = 0, noise: float = 0.0, seed: int = 0) -> Path:
    """`source` with its classification head's label rows rotated by `rotate` and Gaussian noise of
    `noise` times the weights' spread added: the same model size, so the same cost per row."""
    shutil.copytree(source, folder, dirs_exist_ok=True)
    weights = load_file(str(source / "model.safetensors"))
    generator = torch.Generator().manual_seed(seed)
    for name in HEAD:
        tensor = torch.roll(weights[name], shifts=rotate, dims=0)
        weights[name] = tensor + noise * tensor.std() * torch.randn(tensor.shape, generator=generator)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def build_candidates(root: Path) -> list[Path]:
    candidates = [DEMO, damaged_copy(DEMO, root / "perturbed", noise=0.3, seed=1)]
    candidates += [damaged_copy(DEMO, root / f"rotated-{i}", rotate=1 + i % 2, noise=0.2 * i, seed=10 + i) for i in range(4)]
    candidates += [damaged_copy(DEMO, root / f"noisy-{i}", noise=NOISE[i], seed=20 + i) for i in range(4)]
    return candidates


def measure(specs, sample, race: RaceSettings | None):
    """Wall seconds, CPU seconds of this process (less sensitive to other work on a shared machine), the run."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_plan_raced(specs, sample, race) if race else run_plan(specs, sample)
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def winner(result) -> str:
    ranked = [t for t in result.results if t.ok and not t.stopped_early]
    return max(ranked, key=lambda t: t.metrics.accuracy).model


def report(candidates, sample, full_s, full, race_s, raced) -> str:
    """Markdown tables for BENCHMARKS.md; `full_s` and `race_s` are (wall, CPU) seconds."""
    rows = len(sample)
    seen = sum(t.race.rows_seen for t in raced.results)
    lines = [
        f"machine: {cpu_name()}, {len(os.sched_getaffinity(0))} logical CPUs, torch threads {torch.get_num_threads()}, "
        f"load average before {os.getloadavg()[0]:.2f} (shared with other engineers' tests)",
        f"command: {' '.join(['python -m bench.race', *sys.argv[1:]])}", "",
        "| run | wall s | CPU s | model-rows | winner | winner accuracy |", "|---|---|---|---|---|---|",
        f"| full | {full_s[0]:.1f} | {full_s[1]:.1f} | {rows * len(candidates):,} | {Path(winner(full)).name} | "
        f"{max(t.metrics.accuracy for t in full.results if t.ok):.3f} |",
        f"| race | {race_s[0]:.1f} | {race_s[1]:.1f} | {seen:,} | {Path(winner(raced)).name} | "
        f"{max(t.metrics.accuracy for t in raced.results if t.ok and not t.stopped_early):.3f} |",
        "", f"speed-up: {full_s[0] / race_s[0]:.2f}x wall (target >= 2x), {full_s[1] / race_s[1]:.2f}x CPU; "
        f"same winner: {winner(full) == winner(raced)}", "",
        "| candidate | full-run accuracy | race: rows seen | race: outcome |", "|---|---|---|---|",
    ]
    for whole, race in zip(full.results, raced.results):
        outcome = race.race.sentence.replace(str(DEMO), DEMO.name) if race.race else race.error
        lines.append(f"| {Path(whole.model).name} | {whole.metrics.accuracy:.3f} | {race.race.rows_seen} | {outcome} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.race", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the issue's 2 CPU cores)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sample = repeat_rows(load_sample(), args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-race-") as root:
        candidates = build_candidates(Path(root))
        specs = [TrialSpec(kind="text-classification", model=str(path)) for path in candidates]
        measure(specs[:1], repeat_rows(sample, 40), None)  # warm the imports and the file cache for both runs
        full_s, full = measure(specs, sample, None)
        race_s, raced = measure(specs, sample, RaceSettings())
        print(report(candidates, sample, full_s, full, race_s, raced))


if __name__ == "__main__":
    main()

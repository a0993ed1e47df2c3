"""The benchmark: every section of issue 7 in one run, printed as tables with ratios."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from bench import baselines, flops, scale
from bench.engine import Engine, encode_rows, load_engine, padded_tokens, profile_pass, set_threads, unsorted_padded_tokens
from bench.measure import interleaved
from bench.models import BenchModel, build_models
from bench.table import BenchResult, MemoryRow, SpeedRow, render
from bench.workload import load_sample, repeat_rows
from core.devices import cpu_name
from core.tasks.base import DEFAULT_TEMPLATE

SECTIONS = ("classification", "zero-shot", "precision", "scale", "models")
#: Issue 7's targets (CPU, medians).
TARGETS = {
    "loop": 1.5, "batched": 2.5, "bound": 0.85,
    "pair-loop": 2.0, "zs-pipeline": 3.0,
    "int8": 1.8, "int8-agreement": 0.98,
}


@dataclass
class BenchOptions:
    rows: int = 300
    zs_rows: int = 100
    repeats: int = 3
    batch_size: int = 32
    scale_rows: tuple[int, ...] = (100, 1_000, 10_000)
    scale_repeats: int = 3
    big_repeats: int = 1  # run_trial repeats at >= BIG_ROWS rows
    multi_rows: int = 100
    sections: tuple[str, ...] = SECTIONS
    models_dir: Path | None = None
    threads: int | None = None
    tiny: bool = False
    isolate: bool = True
    warmup_rows: int = 32
    log: bool = True
    extra: dict = field(default_factory=dict)


BIG_ROWS = 10_000


def say(options: BenchOptions, line: str) -> None:
    if options.log:
        print(line, file=sys.stderr, flush=True)


def describe_machine(threads: int) -> dict:
    import transformers

    return {
        "cpu": cpu_name(), "logical_cpus": _cpu_count(), "torch_threads": threads,
        "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "command": " ".join(sys.argv),
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def agreement(ours: list[str], theirs: list[str]) -> float:
    return sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(ours)


def rate_method(profile: flops.LinearProfile, rates: list[float], repeats: int):
    def measure() -> float:
        rates.append(flops.measure_matmul_rate(profile.token_shapes, repeats=repeats))
        return rates[-1]

    return measure


def engine_vs(
    section: str, model: BenchModel, engine: Engine, others: dict, warmups: dict, options: BenchOptions, result: BenchResult
) -> None:
    """Time the engine against `others` round by round, plus the FLOP bound from a rate measured each round."""
    profile = flops.profile_linears(engine.loaded.model)
    encoded, tokenize_s = encode_rows(engine)
    lengths = encoded.lengths
    linear, attention = profile.linear_flops(lengths), profile.attention_flops(lengths)
    rates: list[float] = []
    methods = {"engine": engine.predict, **others, "matmul rate": rate_method(profile, rates, 3 if options.tiny else 5)}
    warm = {"engine": lambda: engine.predictor.run(engine.sample.texts[: options.warmup_rows], None, batch_size=options.batch_size), **warmups}
    say(options, f"{section}: {model.name}: {len(engine.sample)} texts, {len(lengths)} inputs, {int(lengths.sum())} tokens")
    timings = interleaved(methods, repeats=options.repeats, warmups=warm, log=lambda line: say(options, line))
    engine_s = timings.seconds["engine"]
    texts, inputs = len(engine.sample), len(lengths)
    rows = [SpeedRow(section, model.name, "(c) engine", texts, inputs, timings.median("engine"), note=f"tokenize {tokenize_s:.3f} s")]
    ours = timings.outputs["engine"]
    for name, (label, target) in others_labels(section).items():
        if name in others:
            rows.append(SpeedRow(
                section, model.name, label, texts, inputs, timings.median(name), timings.median_ratio(name, "engine"),
                target, agreement(ours, timings.outputs[name]),
            ))
    for label, work, target in (
        ("(d) bound: linear-layer FLOPs / matmul rate", linear, TARGETS["bound"]),
        ("(d') bound incl. attention matmuls", linear + attention, None),
    ):
        bound_s = [work / rate for rate in rates]
        fractions = statistics.median(b / e for b, e in zip(bound_s, engine_s))
        note = f"{work / 1e9:,.0f} GFLOP at {statistics.median(rates) / 1e9:,.0f} GFLOP/s (median of {len(rates)})"
        rows.append(SpeedRow(section, model.name, label, texts, inputs, statistics.median(bound_s), fractions, target, note=note))
    result.speed += rows
    result.raw[f"{section}/{model.name}"] = {
        "seconds": timings.seconds, "matmul_flop_per_s": rates, "linear_flop": linear, "attention_flop": attention,
        "tokens": int(lengths.sum()), "engine_padded_tokens": padded_tokens(lengths, options.batch_size),
        "pipeline_padded_tokens": unsorted_padded_tokens(lengths, options.batch_size), "tokenize_s": tokenize_s,
        "linear_profile": {"per_token": profile.per_token, "per_sequence": profile.per_sequence},
    }


def others_labels(section: str) -> dict[str, tuple[str, float]]:
    if section == "classification":
        return {"loop": ("(a) pipeline, one call per text", TARGETS["loop"]), "batched": ("(b) pipeline(batch_size=32)", TARGETS["batched"])}
    return {"pair-loop": ("(a) one model call per (text, label) pair", TARGETS["pair-loop"]),
            "zs-pipeline": ("(b) zero-shot pipeline(batch_size=32)", TARGETS["zs-pipeline"])}


def run_classification(models: dict[str, BenchModel], options: BenchOptions, result: BenchResult) -> None:
    sample = repeat_rows(load_sample(), options.rows)
    warm_texts = sample.texts[: options.warmup_rows]
    for key in ("distilbert", "minilm"):
        model = models[key]
        engine = load_engine(model.path, model.kind, sample, batch_size=options.batch_size)
        m, tok = engine.loaded.model, engine.loaded.tokenizer
        others = {"loop": baselines.pipeline_loop(m, tok, sample.texts), "batched": baselines.pipeline_batched(m, tok, sample.texts)}
        warm = {"loop": baselines.pipeline_loop(m, tok, warm_texts), "batched": baselines.pipeline_batched(m, tok, warm_texts)}
        engine_vs("classification", model, engine, others, warm, options, result)
        if key == "distilbert":
            result.breakdowns[f"classification: {model.name}"] = breakdown(engine, options)
        engine.close()


def run_zero_shot(models: dict[str, BenchModel], options: BenchOptions, result: BenchResult) -> None:
    sample = repeat_rows(load_sample(), options.zs_rows)
    model = models["nli"]
    engine = load_engine(model.path, model.kind, sample, batch_size=options.batch_size)
    m, tok = engine.loaded.model, engine.loaded.tokenizer
    labels, entail = engine.predictor.candidates, engine.predictor.entailment_id
    warm_texts = sample.texts[: max(1, options.warmup_rows // len(labels))]
    others = {
        "pair-loop": baselines.pair_loop(m, tok, sample.texts, labels, DEFAULT_TEMPLATE, entail),
        "zs-pipeline": baselines.zero_shot_pipeline(m, tok, sample.texts, labels, DEFAULT_TEMPLATE),
    }
    warm = {
        "pair-loop": baselines.pair_loop(m, tok, warm_texts, labels, DEFAULT_TEMPLATE, entail),
        "zs-pipeline": baselines.zero_shot_pipeline(m, tok, warm_texts, labels, DEFAULT_TEMPLATE),
    }
    engine_vs("zero-shot", model, engine, others, warm, options, result)
    result.breakdowns[f"zero-shot: {model.name}"] = breakdown(engine, options)
    engine.close()


def breakdown(engine: Engine, options: BenchOptions) -> dict[str, float]:
    """Tokenization, padding and a profiled pass: what bounds the engine short of the FLOP bound."""
    encoded, tokenize_s = encode_rows(engine)
    lengths = encoded.lengths
    profiled = profile_pass(engine)
    wall = profiled["wall (profiled)"]
    parts = {"tokenize (encode) s": tokenize_s}
    parts["padding, engine plan %"] = padded_tokens(lengths, options.batch_size) / lengths.sum() - 1
    parts["padding, rows in order %"] = unsorted_padded_tokens(lengths, options.batch_size) / lengths.sum() - 1
    parts["profiled wall s"] = wall
    for group, seconds in profiled.items():
        if group != "wall (profiled)":
            parts[f"{group} share"] = seconds / wall
    return parts


def run_precision(models: dict[str, BenchModel], options: BenchOptions, result: BenchResult) -> None:
    sample = repeat_rows(load_sample(), options.rows)
    for key in ("distilbert", "minilm"):
        model = models[key]
        engines = {dtype: load_engine(model.path, model.kind, sample, dtype=dtype, batch_size=options.batch_size)
                   for dtype in ("float32", "bfloat16", "int8")}
        warm = {d: (lambda e=e: e.predictor.run(sample.texts[: options.warmup_rows], None, batch_size=options.batch_size))
                for d, e in engines.items()}
        say(options, f"precision: {model.name}")
        timings = interleaved({d: e.predict for d, e in engines.items()}, repeats=options.repeats, warmups=warm,
                              log=lambda line: say(options, line))
        reference = timings.outputs["float32"]
        for dtype in engines:
            target = TARGETS["int8"] if dtype == "int8" else None
            agree_target = TARGETS["int8-agreement"] if dtype == "int8" else None
            result.speed.append(SpeedRow(
                "precision", model.name, dtype, len(sample), len(sample), timings.median(dtype),
                timings.median_ratio("float32", dtype), target, agreement(timings.outputs[dtype], reference), agree_target,
            ))
        result.raw[f"precision/{model.name}"] = {"seconds": timings.seconds}
        for engine in engines.values():
            engine.close()


def run_scale(models: dict[str, BenchModel], options: BenchOptions, result: BenchResult) -> None:
    model = models["minilm"]
    for rows in options.scale_rows:
        repeats = options.big_repeats if rows >= BIG_ROWS else options.scale_repeats
        say(options, f"scale: {model.name} at {rows:,} rows x {repeats}")
        measured = scale.measure([(str(model.path), model.kind)], rows, repeats, isolate=options.isolate)
        trials = measured["trials"]
        failed = [t["error"] for t in trials if t["status"] != "ok"]
        if failed:
            raise RuntimeError(f"scale trial failed: {failed[0]}")
        result.memory.append(MemoryRow(
            "scale", model.name, rows, scale.median_throughput(measured), max(t["process_peak_mb"] for t in trials),
            max(t["trial_memory_mb"] for t in trials), repeats, note=f"RSS before the trial {measured['baseline_mb']:.0f} MB",
        ))
        result.raw[f"scale/{rows}"] = measured


def run_models(models: dict[str, BenchModel], options: BenchOptions, result: BenchResult) -> None:
    order = ["distilbert", "nli", "bert_small", "minilm", "encoder"]
    chosen = [(str(models[k].path), models[k].kind) for k in order]
    names = {str(models[k].path) + models[k].kind: models[k].name for k in order}
    alone = {}
    for folder, kind in chosen:
        say(options, f"models: {names[folder + kind]} alone")
        measured = scale.measure([(folder, kind)], options.multi_rows, isolate=options.isolate)
        alone[folder + kind] = measured["trials"][0]
    say(options, "models: all five in sequence")
    sequence = scale.measure(chosen, options.multi_rows, isolate=options.isolate)
    largest = max(t["process_peak_mb"] for t in alone.values())
    for trial in sequence["trials"]:
        key = trial["model"] + trial["kind"]
        own = alone[key]
        result.memory.append(MemoryRow(
            "models", f"{names[key]} ({trial['kind']})", options.multi_rows, trial["throughput_per_s"],
            trial["process_peak_mb"], trial["trial_memory_mb"],
            note=f"alone: peak RSS {own['process_peak_mb']:.0f} MB" + ("" if trial["status"] == "ok" else f"; {trial['error']}"),
        ))
    peak = max(t["process_peak_mb"] for t in sequence["trials"])
    result.memory.append(MemoryRow(
        "models", "all five in sequence vs the largest alone", options.multi_rows, None, peak, None,
        note=f"largest single model alone: {largest:.0f} MB; sequence / largest = {peak / largest:.2f}",
    ))
    result.raw["models"] = {"alone": alone, "sequence": sequence}


RUNNERS = {
    "classification": run_classification, "zero-shot": run_zero_shot, "precision": run_precision,
    "scale": run_scale, "models": run_models,
}


def run_benchmark(options: BenchOptions) -> BenchResult:
    threads = set_threads(options.threads)
    result = BenchResult(machine=describe_machine(threads))
    result.machine["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="msd-bench-") as scratch:
        root = options.models_dir or Path(scratch)
        base = load_sample()
        say(options, f"building models in {root}")
        models = build_models(root, base.texts, base.single_labels, base.label_set, tiny=options.tiny)
        for section in options.sections:
            RUNNERS[section](models, options, result)
    result.machine["total_s"] = round(time.perf_counter() - started, 1)
    return result


def parse_args(argv: list[str] | None) -> tuple[BenchOptions, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Issue 7's benchmark: engine vs the usual ways vs the FLOP bound.")
    parser.add_argument("--rows", type=int, default=300, help="texts for classification and precision (default 300)")
    parser.add_argument("--zs-rows", type=int, default=100, help="texts for zero-shot; pairs = texts x labels (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up; medians are quoted (default 3)")
    parser.add_argument("--scale", default="100,1000,10000", help="row counts for the scale section (default 100,1000,10000)")
    parser.add_argument("--scale-repeats", type=int, default=3, help="run_trial repeats below 10,000 rows (default 3)")
    parser.add_argument("--big-repeats", type=int, default=1, help="run_trial repeats at 10,000+ rows (default 1)")
    parser.add_argument("--multi-rows", type=int, default=100, help="rows per model in the 5-model run (default 100)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--models-dir", type=Path, help="reuse/keep built model folders here (default: a temp folder)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice, one per core)")
    parser.add_argument("--tiny", action="store_true", help="tiny models (smoke test: the numbers mean nothing)")
    parser.add_argument("--in-process", action="store_true", help="memory runs in this process instead of fresh ones")
    parser.add_argument("--json", type=Path, help="write every raw timing here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    args = parser.parse_args(argv)
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; sections are: {', '.join(SECTIONS)}")
    options = BenchOptions(
        rows=args.rows, zs_rows=args.zs_rows, repeats=args.repeats, scale_rows=tuple(int(x) for x in args.scale.split(",") if x),
        scale_repeats=args.scale_repeats, big_repeats=args.big_repeats, multi_rows=args.multi_rows, sections=sections,
        models_dir=args.models_dir, threads=args.threads, tiny=args.tiny, isolate=not args.in_process,
    )
    return options, args


def header(result: BenchResult) -> str:
    m = result.machine
    return (
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} with {m['torch_threads']} threads, "
        f"transformers {m['transformers']}, Python {m['python']}. Date: {m['date']}. Total {m.get('total_s', 0):.0f} s.\n"
    )


def main(argv: list[str] | None = None) -> BenchResult:
    options, args = parse_args(argv)
    result = run_benchmark(options)
    text = header(result) + "\n" + render(result)
    print(text)
    for path in (args.markdown, args.json):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)  # e.g. artifacts/bench/ in a fresh clone
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1, default=str))
    return result

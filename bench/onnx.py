"""`python -m bench.onnx`: ONNX Runtime against torch and the per-text pipeline loop, in one interleaved run.

On the demo models (trained, so agreement means something): the ticket classifier, the MiniLM
embedding probe (its cross-validated logistic-regression head) and the ticket NLI model (zero-shot).
Per model, every method is warmed up, then timed round by round (bench.measure.interleaved), and
ratios are medians of same-round pairs. Agreement is the share of rows whose predicted label equals
torch float32's. The ONNX cache is a fresh temporary folder, so the first load includes the export.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before transformers is imported
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import torch

from bench import baselines
from bench.measure import interleaved
from bench.workload import load_sample, repeat_rows
from core.dataset import LabeledSample
from core.devices import cpu_name
from core.loading import ModelSpec, load_model
from core.paths import ROOT
from core.settings import get_settings
from core.tasks import get_kind
from core.tasks.base import DEFAULT_TEMPLATE, TaskOptions
from core.tasks.cross_validation import cross_validated
from core.tasks.probe import probe_estimator

DEMO = ROOT / "demo_models"
MODELS = {"classification": ("ticket-classifier", "text-classification"), "probe": ("all-MiniLM-L6-v2", "embedding-probe"),
          "zero-shot": ("ticket-nli", "zero-shot-classification")}
#: Issue 16's targets: rows/s over the baseline named, and the least agreement with torch float32.
TARGETS = {("classification", "onnxruntime float32"): 2.5, ("classification", "onnxruntime int8"): 4.0,
           ("zero-shot", "onnxruntime float32"): 3.0}
MIN_AGREEMENT = 0.98
VARIANTS = (("torch", "float32"), ("torch", "int8"), ("onnxruntime", "float32"), ("onnxruntime", "int8"))


@dataclass
class Row:
    section: str
    method: str
    rows_per_s: float
    vs_baseline: float | None
    target: float | None
    agreement: float | None
    load_s: str = ""


def cpu_flags() -> list[str]:
    """The CPU features int8 and float32 kernels depend on, as /proc/cpuinfo lists them."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return [flag for flag in wanted if flag in flags]


def load_variant(section: str, runtime: str, dtype: str, sample: LabeledSample, settings, batch_size: int):
    """A predictor for one runtime x dtype, and its load seconds (with the ONNX export when not cached)."""
    folder, kind_name = MODELS[section]
    kind = get_kind(kind_name)
    loaded = load_model(ModelSpec(str(DEMO / folder)), head=kind.head, dtype=dtype, runtime=runtime, settings=settings)
    return kind.prepare(loaded, sample, TaskOptions(batch_size=batch_size)), loaded


def engine_method(predictor, sample: LabeledSample, batch_size: int, *, probe: bool):
    """One full pass; the probe times the encoder pass only (its labels come from the vectors afterwards)."""
    if probe:
        return lambda: predictor.run(sample.texts, sample.pairs, batch_size=batch_size)
    return lambda: [labels[0] for labels in predictor.finish(predictor.run(sample.texts, None, batch_size=batch_size)).labels]


def probe_loop(model, tokenizer, texts: list[str]):
    """The per-text loop for embeddings: a feature-extraction pipeline per text, mean-pooled (MiniLM's pooling)."""
    extract = baselines._quiet_pipeline("feature-extraction", model, tokenizer)
    return lambda: torch.tensor(np.array([np.mean(extract(text, truncation=True)[0], axis=0) for text in texts]))


def probe_labels(vectors: torch.Tensor, sample: LabeledSample) -> list[str]:
    predictions = cross_validated(probe_estimator(), vectors.numpy(), sample, TaskOptions())
    return [labels[0] for labels in predictions.labels]


def run_section(section: str, sample: LabeledSample, settings, options) -> list[Row]:
    probe = section == "probe"
    methods, warm, loads = {}, {}, {}
    torch_loaded = None
    for runtime, dtype in VARIANTS:
        name = f"{runtime} {dtype}"
        started = time.perf_counter()
        predictor, loaded = load_variant(section, runtime, dtype, sample, settings, options.batch_size)
        loads[name] = f"{time.perf_counter() - started:.1f}"
        if runtime == "onnxruntime":  # again, from the cache
            started = time.perf_counter()
            predictor, loaded = load_variant(section, runtime, dtype, sample, settings, options.batch_size)
            loads[name] += f" first, {time.perf_counter() - started:.1f} cached"
        torch_loaded = torch_loaded or (loaded if name == "torch float32" else None)
        methods[name] = engine_method(predictor, sample, options.batch_size, probe=probe)
        warm[name] = engine_method(predictor, replace_rows(sample, options.warmup_rows), options.batch_size, probe=probe)
    baseline, make = baseline_of(section, torch_loaded, sample)
    methods, warm = {baseline: make(sample), **methods}, {baseline: make(replace_rows(sample, 4)), **warm}
    say(f"{section}: {len(sample)} texts, methods {', '.join(methods)}")
    timings = interleaved(methods, repeats=options.repeats, warmups=warm, log=say)
    outputs = {name: probe_labels(out, sample) if probe else out for name, out in timings.outputs.items()}
    reference = outputs["torch float32"]
    return [Row(section, name, len(sample) / timings.median(name),
                timings.median_ratio(baseline, name) if name != baseline else None, TARGETS.get((section, name)),
                sum(a == b for a, b in zip(outputs[name], reference)) / len(reference), loads.get(name, ""))
            for name in methods]


def baseline_of(section: str, loaded, sample: LabeledSample):
    model, tokenizer = loaded.model, loaded.tokenizer
    if section == "classification":
        return "pipeline loop (one call per text)", lambda s: baselines.pipeline_loop(model, tokenizer, s.texts)
    if section == "probe":
        return "feature-extraction pipeline loop", lambda s: probe_loop(model, tokenizer, s.texts)
    return "zero-shot pipeline(batch_size=32)", lambda s: baselines.zero_shot_pipeline(
        model, tokenizer, s.texts, list(sample.label_set), DEFAULT_TEMPLATE)


def replace_rows(sample: LabeledSample, rows: int) -> LabeledSample:
    return repeat_rows(sample, min(rows, len(sample)))


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def render(rows: list[Row], header: str) -> str:
    lines = [header, "", "| section | method | rows/s | x baseline (median of rounds) | target | agreement with torch fp32 | load s |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        ratio = f"{r.vs_baseline:.2f}x" if r.vs_baseline is not None else "baseline"
        target = ""
        if r.target is not None:
            met = r.vs_baseline >= r.target and r.agreement >= MIN_AGREEMENT
            target = f">= {r.target:g}x, >= {MIN_AGREEMENT:.0%} agree: {'met' if met else 'MISSED'}"
        lines.append(f"| {r.section} | {r.method} | {r.rows_per_s:,.1f} | {ratio} | {target} | {r.agreement:.1%} | {r.load_s} |")
    return "\n".join(lines)


def describe_machine() -> str:
    import onnxruntime
    import transformers

    return (f"Machine: {cpu_name()}, CPU flags {' '.join(cpu_flags()) or 'none of avx2/avx512f/vnni'}, "
            f"{len(os.sched_getaffinity(0))} logical CPUs, torch {torch.__version__} and ONNX Runtime "
            f"{onnxruntime.__version__} with {torch.get_num_threads()} threads, transformers {transformers.__version__}.")


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.onnx", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=210, help="texts for classification and the probe (default 210, the sample)")
    parser.add_argument("--zs-rows", type=int, default=100, help="texts for zero-shot; pairs = texts x 3 labels (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up (default 3)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="intra-op threads of torch and ONNX Runtime alike (default: torch's choice)")
    parser.add_argument("--sections", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    options = parser.parse_args(argv)
    options.warmup_rows = options.batch_size
    if options.threads:
        torch.set_num_threads(options.threads)  # ONNX Runtime sessions take torch's count (core.runtimes)
    base = load_sample()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="msd-bench-onnx-") as scratch:
        settings = replace(get_settings(), data_dir=Path(scratch))
        for section in options.sections.split(","):
            count = options.zs_rows if section == "zero-shot" else options.rows
            rows += run_section(section, repeat_rows(base, count), settings, options)
    header = f"{describe_machine()} Total {time.perf_counter() - started:.0f} s; medians of {options.repeats} rounds."
    text = render(rows, header)
    print(text)
    if options.markdown:
        options.markdown.parent.mkdir(parents=True, exist_ok=True)
        options.markdown.write_text(text + "\n")
    return rows


if __name__ == "__main__":
    main()

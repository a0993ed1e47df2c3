"""This project's engine, through the code path users get: core.loading + core.tasks."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.dataset import LabeledSample
from core.inference import BATCH_COST_TOKENS, MAX_BATCH_TOKENS, Encoded, encode, plan_batches
from core.loading import LoadedModel, ModelSpec, load_model, release
from core.tasks import get_kind
from core.tasks.base import TaskOptions


@dataclass
class Engine:
    """A loaded model and its prepared predictor; `predict()` is one full evaluation pass."""

    loaded: LoadedModel
    predictor: object
    sample: LabeledSample
    batch_size: int

    def predict(self) -> list[str]:
        outputs = self.predictor.run(self.sample.texts, self.sample.pairs, batch_size=self.batch_size)
        return [labels[0] if labels else "" for labels in self.predictor.finish(outputs).labels]

    def close(self) -> None:
        release(self.loaded)


def load_engine(folder: Path, kind: str, sample: LabeledSample, *, dtype: str = "float32", batch_size: int = 32) -> Engine:
    task = get_kind(kind)
    loaded = load_model(ModelSpec(str(folder)), head=task.head, device="cpu", dtype=dtype)
    predictor = task.prepare(loaded, sample, TaskOptions(batch_size=batch_size))
    return Engine(loaded, predictor, sample, batch_size)


def engine_inputs(engine: Engine) -> tuple[list[str], list[str] | None, str]:
    """The (premise, hypothesis) rows the engine feeds the model, as its predictor builds them."""
    texts = engine.sample.texts
    hypotheses = getattr(engine.predictor, "hypotheses", None)
    if hypotheses is None:
        return texts, engine.sample.pairs, "longest_first"
    return [t for t in texts for _ in hypotheses], hypotheses * len(texts), "only_first"


def encode_rows(engine: Engine) -> tuple[Encoded, float]:
    """The engine's own tokenization of its model inputs, and how long it took."""
    texts, pairs, truncation = engine_inputs(engine)
    started = time.perf_counter()
    encoded = encode(engine.loaded.tokenizer, texts, pairs, max_length=engine.loaded.max_length, truncation=truncation)
    return encoded, time.perf_counter() - started


def padded_tokens(lengths: np.ndarray, batch_size: int) -> int:
    """Tokens the engine's CPU batch plan computes, padding included."""
    batches = plan_batches(lengths, batch_size, batch_cost_tokens=BATCH_COST_TOKENS["cpu"],
                           max_batch_tokens=MAX_BATCH_TOKENS["cpu"])
    return int(sum(lengths[b].max() * len(b) for b in batches))


def unsorted_padded_tokens(lengths: np.ndarray, batch_size: int) -> int:
    """Tokens a batch_size-32 pipeline computes: rows in the given order, padded per batch."""
    return int(sum(lengths[i : i + batch_size].max() * len(lengths[i : i + batch_size]) for i in range(0, len(lengths), batch_size)))


#: Profiler op names grouped into what a reader can act on.
OP_GROUPS = {
    "linear (addmm/mm)": ("aten::addmm", "aten::mm", "aten::matmul", "aten::linear", "quantized::linear_dynamic"),
    "attention (sdpa/bmm/softmax)": ("scaled_dot_product", "aten::bmm", "aten::baddbmm", "aten::_softmax", "aten::softmax"),
    "GELU": ("aten::gelu",),
    "layer norm": ("aten::native_layer_norm", "aten::layer_norm"),
    "copies and adds": ("aten::copy_", "aten::add", "aten::add_", "aten::contiguous", "aten::clone"),
}


def profile_pass(engine: Engine) -> dict[str, float]:
    """One engine pass under torch.profiler: seconds of op self time per group, and the rest.

    `python and framework` is wall time minus all op self time: tokenization, collation,
    module dispatch and postprocessing.
    """
    from torch.profiler import ProfilerActivity, profile

    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        engine.predict()
    wall = time.perf_counter() - started
    groups: Counter = Counter()
    for event in prof.key_averages():
        seconds = event.self_cpu_time_total / 1e6
        group = next((g for g, names in OP_GROUPS.items() if any(n in event.key for n in names)), "other ops")
        if event.key.startswith(("aten::", "quantized::")) or group != "other ops":
            groups[group] += seconds
    groups["python and framework"] = max(wall - sum(groups.values()), 0.0)
    groups["wall (profiled)"] = wall
    return dict(groups)


def set_threads(count: int | None) -> int:
    if count:
        torch.set_num_threads(count)
    return torch.get_num_threads()

"""The hardware bound: FLOPs of the work that must be done, over a matmul rate measured here.

FLOPs are counted for the actual token counts after truncation (no padding): every
`nn.Linear` costs 2 * in * out per row it sees. Forward hooks find which linears run per
token and which per sequence (a pooler or classification head on the first token), so the
count is right for any architecture without reading its code. Attention matmuls
(Q @ K^T and weights @ V: 4 * L^2 * hidden per layer and sequence) are counted separately,
so the bound can be quoted with and without them. Embeddings, layer norms, GELU, softmax
and residual adds are not counted: they are memory-bound and have no matmul rate.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: Batch shapes (rows of the matmul = tokens in a batch) at which the matmul rate is timed;
#: the best is the bound. The engine's CPU batches hold a few hundred to a few thousand tokens.
RATE_TOKENS = (512, 2048)


@dataclass(frozen=True)
class LinearProfile:
    """How many FLOPs one sequence of `L` tokens costs in the model's linear layers."""

    per_token: float  # FLOPs of the linears that run on every token
    per_sequence: float  # FLOPs of the linears that run once per sequence (pooler, head)
    token_shapes: dict[tuple[int, int], int]  # (in, out) -> how many such linears run per token
    layers: int
    hidden: int

    def linear_flops(self, lengths: np.ndarray) -> float:
        return float(self.per_token * lengths.sum() + self.per_sequence * len(lengths))

    def attention_flops(self, lengths: np.ndarray) -> float:
        return float(4 * self.layers * self.hidden * (lengths.astype(np.float64) ** 2).sum())


def profile_linears(model: torch.nn.Module) -> LinearProfile:
    """Run the model on two short inputs and record every linear layer it calls."""
    calls: list[tuple[int, int, int]] = []

    def record(module, inputs, _output):
        rows = inputs[0].numel() // module.in_features
        calls.append((module.in_features, module.out_features, rows))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    flops, shapes = {}, Counter()
    try:
        for length in (8, 16):
            calls.clear()
            with torch.inference_mode():
                model(input_ids=torch.full((1, length), 1000), attention_mask=torch.ones(1, length, dtype=torch.long))
            flops[length] = sum(2 * i * o * rows for i, o, rows in calls)
        shapes.update((i, o) for i, o, rows in calls if rows == 16)
    finally:
        for hook in hooks:
            hook.remove()
    per_token = (flops[16] - flops[8]) / 8
    config = model.config
    return LinearProfile(
        per_token=per_token,
        per_sequence=flops[8] - 8 * per_token,
        token_shapes=dict(shapes),
        layers=int(getattr(config, "num_hidden_layers")),
        hidden=int(getattr(config, "hidden_size")),
    )


def _time_linear(tokens: int, shape: tuple[int, int], repeats: int) -> float:
    """Median seconds of one float32 F.linear (with bias, as nn.Linear runs) of this shape."""
    features_in, features_out = shape
    x = torch.randn(tokens, features_in)
    weight = torch.randn(features_out, features_in)
    bias = torch.randn(features_out)
    F.linear(x, weight, bias)  # warm-up: thread pool, allocator
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        F.linear(x, weight, bias)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def measure_matmul_rate(shapes: dict[tuple[int, int], int], *, repeats: int = 5, tokens=RATE_TOKENS) -> float:
    """FLOP/s of the model's own linear shapes, float32, this process's thread count.

    For each batch size in `tokens`, the rate is the FLOPs of one pass over every linear
    shape (weighted by how often the model runs it) over the time of that pass; the best
    batch size gives the bound.
    """
    rates = []
    for count in tokens:
        seconds = sum(n * _time_linear(count, shape, repeats) for shape, n in shapes.items())
        flop = sum(n * 2 * count * i * o for (i, o), n in shapes.items())
        rates.append(flop / seconds)
    return max(rates)

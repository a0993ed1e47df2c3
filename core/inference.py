"""Batched inference: tokenize once, order rows by length, pad per batch, run in inference mode."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers.utils import logging as hf_logging

from core.devices import synchronize

Forward = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]
OnRows = Callable[[int], None]


@dataclass
class Encoded:
    """Token ids per row, unpadded, and how many rows were cut to the maximum length."""

    features: list[dict[str, np.ndarray]]
    truncated_rows: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(f["input_ids"]) for f in self.features), dtype=np.int64, count=len(self.features))

    def __len__(self) -> int:
        return len(self.features)


def _rows(batch_encoding, keys: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """One dict of int32 arrays per row: a tenth of the memory of the tokenizer's Python lists,
    which matters at tens of thousands of rows."""
    columns = [batch_encoding[key] for key in keys]
    return [{key: np.asarray(value, dtype=np.int32) for key, value in zip(keys, values)} for values in zip(*columns)]


#: Rows tokenized at once. The tokenizer's own output takes ~20 kB a row until it is packed
#: into int32 arrays, so chunks keep that transient flat however many rows the sample has.
ENCODE_CHUNK_ROWS = 1024


def encode(
    tokenizer, texts: Sequence[str], pairs: Sequence[str] | None = None, *, max_length: int, truncation: str = "longest_first"
) -> Encoded:
    """Tokenize every row; rows longer than `max_length` are truncated and counted."""
    keys = [k for k in tokenizer.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "longer than the maximum" warning is expected: we count instead
    try:
        full = []
        for start in range(0, len(texts), ENCODE_CHUNK_ROWS):
            chunk = slice(start, start + ENCODE_CHUNK_ROWS)
            second = list(pairs[chunk]) if pairs is not None else None
            full += _rows(tokenizer(list(texts[chunk]), second, truncation=False), keys)
    finally:
        hf_logging.set_verbosity(verbosity)
    long_rows = [i for i, f in enumerate(full) if len(f["input_ids"]) > max_length]
    if long_rows:
        cut = tokenizer(
            [texts[i] for i in long_rows],
            [pairs[i] for i in long_rows] if pairs is not None else None,
            truncation=truncation,
            max_length=max_length,
        )
        for row, features in zip(long_rows, _rows(cut, keys)):
            full[row] = features
    return Encoded(full, len(long_rows))


#: What one extra batch costs, in padded tokens' worth of work: the per-forward Python and
#: kernel-launch overhead plus the lower matmul efficiency of small batches. Measured on a
#: 2-core CPU with DistilBERT-base and MiniLM (bench/): 32 keeps padding under ~3% while
#: batches stay above ~130 tokens, where CPU matmuls run near their peak rate. GPUs pay more
#: per launch and less per padded token.
BATCH_COST_TOKENS = {"cpu": 96, "cuda": 1024, "mps": 1024}
#: Most padded tokens in one batch. Activation memory grows with batch rows x length (and
#: attention with length squared), so this cap keeps a trial's peak memory the same whether the
#: sample has ten long rows or ten thousand. 4096 tokens is 8 rows at 512 tokens, still far above
#: the ~130 tokens where CPU matmuls reach their rate.
MAX_BATCH_TOKENS = {"cpu": 4096, "cuda": 65536, "mps": 16384}


def plan_batches(
    lengths: np.ndarray, batch_size: int, *, batch_cost_tokens: int | None = None, max_batch_tokens: int | None = None
) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length, longest first (so memory peaks early).

    Without `batch_cost_tokens` or `max_batch_tokens`, the length-sorted rows are cut into
    batches of `batch_size`. With them, the sorted rows are cut where that minimizes padded
    tokens plus `batch_cost_tokens` per batch (an exact dynamic program over contiguous runs),
    with at most `batch_size` rows and `max_batch_tokens` padded tokens per batch (a longer
    row still gets a batch of its own): rows of very different lengths no longer share a batch,
    so almost no work is spent on padding, and no batch outgrows the memory cap.
    """
    order = np.argsort(-lengths, kind="stable")
    if (batch_cost_tokens is None and max_batch_tokens is None) or len(order) <= 1:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    cuts = _cheapest_cuts(lengths[order], batch_size, batch_cost_tokens or 0, max_batch_tokens)
    return [order[start:end] for start, end in cuts]


def _cheapest_cuts(
    sorted_lengths: np.ndarray, batch_size: int, batch_cost: int, max_tokens: int | None
) -> list[tuple[int, int]]:
    """(start, end) runs of longest-first lengths minimizing sum(rows * longest) + batch_cost per run."""
    n = len(sorted_lengths)
    widths = sorted_lengths.astype(np.float64)
    best = np.zeros(n + 1)
    start_of = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        starts = np.arange(max(0, end - batch_size), end)
        if max_tokens is not None:  # the run's longest row is its first: rows x width stays under the cap
            starts = starts[((end - starts) * widths[starts] <= max_tokens) | (starts == end - 1)]
        costs = best[starts] + (end - starts) * widths[starts] + batch_cost
        pick = int(np.argmin(costs))  # the first minimum: the larger batch on ties
        best[end], start_of[end] = costs[pick], starts[pick]
    cuts, end = [], n
    while end > 0:
        cuts.append((int(start_of[end]), end))
        end = int(start_of[end])
    return cuts[::-1]


def collate(features: list[dict[str, np.ndarray]], *, pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    """Pad a batch to its longest row (dynamic padding)."""
    width = max(len(f["input_ids"]) for f in features)
    batch = {}
    for key in features[0]:
        fill = pad_id if key == "input_ids" else 0
        array = np.full((len(features), width), fill, dtype=np.int64)
        for row, f in enumerate(features):
            values = f[key]
            if padding_side == "left":
                array[row, width - len(values) :] = values
            else:
                array[row, : len(values)] = values
        batch[key] = torch.from_numpy(array)
    if "attention_mask" not in batch:
        lengths = torch.tensor([len(f["input_ids"]) for f in features])
        positions = torch.arange(width).expand(len(features), width)
        batch["attention_mask"] = (positions < lengths[:, None]).long() if padding_side != "left" else (
            positions >= (width - lengths)[:, None]
        ).long()
    return batch


def run_batches(
    model: torch.nn.Module,
    tokenizer,
    encoded: Encoded,
    forward: Forward,
    *,
    batch_size: int,
    device: str,
    on_rows: OnRows | None = None,
) -> torch.Tensor:
    """Run `forward` over every row in length-sorted batches; outputs come back in row order."""
    outputs: torch.Tensor | None = None
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    kind = torch.device(device).type
    plan = plan_batches(encoded.lengths, batch_size, batch_cost_tokens=BATCH_COST_TOKENS.get(kind),
                        max_batch_tokens=MAX_BATCH_TOKENS.get(kind))
    for indices in plan:
        batch = collate([encoded.features[i] for i in indices], pad_id=pad_id, padding_side=tokenizer.padding_side)
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.inference_mode():
            result = forward(model, batch).float().cpu()
        if outputs is None:
            outputs = torch.empty((len(encoded),) + tuple(result.shape[1:]), dtype=torch.float32)
        outputs[torch.from_numpy(indices)] = result
        if on_rows:
            on_rows(len(indices))
    synchronize(device)
    assert outputs is not None, "run_batches needs at least one row"
    return outputs


def classifier_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).logits

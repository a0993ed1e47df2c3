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

    features: list[dict[str, list[int]]]
    truncated_rows: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(f["input_ids"]) for f in self.features), dtype=np.int64, count=len(self.features))

    def __len__(self) -> int:
        return len(self.features)


def _rows(batch_encoding, keys: Sequence[str]) -> list[dict[str, list[int]]]:
    columns = [batch_encoding[key] for key in keys]
    return [dict(zip(keys, values)) for values in zip(*columns)]


def encode(
    tokenizer, texts: Sequence[str], pairs: Sequence[str] | None = None, *, max_length: int, truncation: str = "longest_first"
) -> Encoded:
    """Tokenize every row; rows longer than `max_length` are truncated and counted."""
    keys = [k for k in tokenizer.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "longer than the maximum" warning is expected: we count instead
    try:
        full = _rows(tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=False), keys)
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


def plan_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length, longest first (so memory peaks early)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def collate(features: list[dict[str, list[int]]], *, pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
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
    for indices in plan_batches(encoded.lengths, batch_size):
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


def mean_pooled(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean of the last hidden states over real (unpadded) tokens, as sentence-transformers does."""
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

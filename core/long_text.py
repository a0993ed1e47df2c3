"""Texts longer than a model's limit: truncate (the head), head-tail, or chunks.

- `truncate`: the first tokens that fit (what the engine always did).
- `head-tail`: the first quarter of the budget and the last three quarters (the tail of a message often
  says what it is about; Sun et al. 2019's best split for BERT).
- `chunks`: windows of the model's length overlapping by a quarter, every window classified (all
  windows of all rows batched together), the windows' probabilities aggregated per row: `mean`
  (single-label default), `max` (multi-label default), or `first`. The embedding probe pools the
  windows' embeddings (their mean) before its classifier.

Windows and head-tail cuts are made on the model's own tokens and mapped back to the text through the
tokenizer's character offsets, so every kind (classification, zero-shot, probe) runs them as ordinary
rows; latency per row counts all of its windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError
from core.tasks.base import OnRows, Predictions
from core.tasks.cross_validation import MULTI_LABEL_THRESHOLD

STRATEGIES = ("truncate", "head-tail", "chunks")
AGGREGATES = ("mean", "max", "first")
HEAD_SHARE = 0.25
OVERLAP_SHARE = 0.25
#: Tokens kept free in every cut: a substring can tokenize a token or two longer than its slice.
MARGIN_TOKENS = 4


def check_strategy(strategy: str, aggregate: str | None) -> None:
    if strategy not in STRATEGIES:
        raise InputError(f"There is no long-text strategy {strategy!r}.", hint=f"Use one of: {', '.join(STRATEGIES)}.")
    if aggregate is not None and aggregate not in AGGREGATES:
        raise InputError(f"There is no chunk aggregation {aggregate!r}.", hint=f"Use one of: {', '.join(AGGREGATES)}.")


@dataclass(frozen=True)
class Cutter:
    """Cuts texts to a token budget with one tokenizer (the model's)."""

    tokenizer: object
    budget: int  # content tokens a text may have (the model's limit less special tokens and the pair)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of each token of `text` (special tokens left out)."""
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in encoded["offset_mapping"] if span[1] > span[0]]

    def head_tail(self, text: str) -> str:
        spans = self.spans(text)
        if len(spans) <= self.budget:  # fits: untouched
            return text
        room = max(self.budget - MARGIN_TOKENS, 2)
        head = max(1, int(room * HEAD_SHARE))
        tail = room - head
        return text[: spans[head - 1][1]] + " " + text[spans[-tail][0]:]

    def windows(self, text: str) -> list[str]:
        spans = self.spans(text)
        if len(spans) <= self.budget:  # fits: one window, the text itself
            return [text]
        size = max(self.budget - MARGIN_TOKENS, 2)
        step = max(1, size - int(size * OVERLAP_SHARE))
        starts = list(range(0, len(spans) - size + step, step))
        return [text[spans[s][0]: spans[min(s + size, len(spans)) - 1][1]] for s in starts]


@dataclass
class Windows:
    """The window texts of some rows, and the row each window belongs to."""

    texts: list[str]
    pairs: list[str] | None
    owner: np.ndarray

    @classmethod
    def of(cls, cutter: Cutter, texts: Sequence[str], pairs: Sequence[str] | None) -> Windows:
        window_texts, window_pairs, owner = [], [], []
        for row, text in enumerate(texts):
            for window in cutter.windows(text):
                window_texts.append(window)
                window_pairs.append(pairs[row] if pairs is not None else None)
                owner.append(row)
        return cls(window_texts, window_pairs if pairs is not None else None, np.array(owner, dtype=np.int64))


@dataclass
class LongTextPredictor:
    """Any kind's predictor, run on head-tail cuts or on windows of the rows longer than the model's limit."""

    inner: object
    strategy: str
    aggregate: str
    cutter: Cutter
    multi_label: bool
    label_set: list[str]
    notes: list[str] = field(default_factory=list)
    long_rows: int = 0
    window_count: int = 0

    @property
    def truncated_rows(self) -> int:
        return 0 if self.strategy == "chunks" else self.inner.truncated_rows

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        if self.strategy == "head-tail":
            cut = [self.cutter.head_tail(text) for text in texts]
            self.long_rows = sum(a != b for a, b in zip(cut, texts))
            return self.inner.run(cut, pairs, batch_size=batch_size, on_rows=on_rows)
        windows = Windows.of(self.cutter, texts, pairs)
        self.long_rows = int((np.bincount(windows.owner, minlength=len(texts)) > 1).sum())
        self.window_count = len(windows.texts)
        share = len(texts) / len(windows.texts)
        report = (lambda done: on_rows(done * share)) if on_rows else None  # progress in rows, not windows
        return windows, self.inner.run(windows.texts, windows.pairs, batch_size=batch_size, on_rows=report)

    def finish(self, outputs) -> Predictions:
        if self.strategy == "head-tail":
            predictions = self.inner.finish(outputs)
            predictions.notes.append(f"{self.long_rows} rows longer than the model's limit were cut to their first "
                                     f"{HEAD_SHARE:.0%} and last {1 - HEAD_SHARE:.0%} of tokens (head-tail).")
            return predictions
        windows, window_outputs = outputs
        if hasattr(self.inner, "pool_windows"):  # the probe: one embedding per row, the mean of its windows'
            predictions = self.inner.finish(self.inner.pool_windows(window_outputs, windows.owner))
        else:
            predictions = self.aggregated(self.inner.finish(window_outputs), windows.owner)
        predictions.notes.append(
            f"{self.long_rows} rows longer than the model's limit were split into overlapping windows "
            f"({self.window_count} windows for {len(set(windows.owner.tolist()))} rows); "
            f"{'their embeddings were averaged' if hasattr(self.inner, 'pool_windows') else f'window probabilities aggregated by {self.aggregate}'}.")
        return predictions

    def aggregated(self, per_window: Predictions, owner: np.ndarray) -> Predictions:
        probabilities = np.array(per_window.probabilities, dtype=float)
        rows = int(owner.max()) + 1
        combined = np.zeros((rows, probabilities.shape[1]))
        for row in range(rows):
            mine = probabilities[owner == row]
            combined[row] = {"mean": mine.mean(axis=0), "max": mine.max(axis=0), "first": mine[0]}[self.aggregate]
        if self.multi_label:
            labels = [tuple(l for l, p in zip(self.label_set, r) if p >= MULTI_LABEL_THRESHOLD) for r in combined]
            scores = combined.max(axis=1)
        else:
            totals = combined.sum(axis=1, keepdims=True)
            combined = np.divide(combined, totals, out=np.zeros_like(combined), where=totals > 0)
            labels = [(self.label_set[int(r.argmax())],) for r in combined]
            scores = combined.max(axis=1)
        return Predictions(labels, scores.tolist(), list(per_window.notes), combined.tolist())


def default_aggregate(multi_label: bool) -> str:
    return "max" if multi_label else "mean"


def mean_by_owner(values, owner: np.ndarray):
    """Row means of per-window vectors (a torch tensor or numpy array), rows in order."""
    import torch

    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    index = torch.as_tensor(owner)
    rows = int(index.max()) + 1
    sums = torch.zeros((rows,) + tuple(tensor.shape[1:]), dtype=tensor.dtype).index_add_(0, index, tensor)
    counts = torch.bincount(index, minlength=rows).to(tensor.dtype).reshape((rows,) + (1,) * (tensor.dim() - 1))
    return sums / counts


def token_lengths(loaded, sample) -> list[int]:
    """Each row's tokens with the model's tokenizer (its pair and special tokens included)."""
    pairs = list(sample.pairs) if sample.pairs is not None else None
    return [len(ids) for ids in loaded.tokenizer(list(sample.texts), pairs, truncation=False)["input_ids"]]


def long_rows_of(loaded, sample) -> list[int]:
    """Rows whose tokens (with the pair and special tokens) exceed the model's limit."""
    return [row for row, length in enumerate(token_lengths(loaded, sample)) if length > loaded.max_length]


def for_long_texts(predictor, loaded, sample, strategy: str, aggregate: str | None) -> LongTextPredictor:
    """`predictor` run on head-tail cuts or windows of the rows longer than the model's limit. The text's
    budget leaves room for special tokens, the longest pair, and a zero-shot hypothesis."""
    check_strategy(strategy, aggregate)
    if not hasattr(predictor, "run") or getattr(predictor, "train", None) is not None:
        raise InputError(f"The {strategy} long-text strategy applies to classification, zero-shot and the probe, "
                         "not to fine-tuning.", hint="Use --long-text truncate with the fine-tune kind.")
    tokenizer = loaded.tokenizer
    paired = sample.pairs is not None or hasattr(predictor, "reserved_tokens")
    reserve = predictor.reserved_tokens() if hasattr(predictor, "reserved_tokens") else longest_pair(tokenizer, sample)
    budget = loaded.max_length - tokenizer.num_special_tokens_to_add(pair=paired) - reserve
    if budget < 8:
        raise InputError(f"{loaded.spec.source} leaves {budget} tokens per window once the pair or hypothesis is in.",
                         hint="Use a model with a longer limit, or a shorter second column or hypothesis.")
    return LongTextPredictor(predictor, strategy, aggregate or default_aggregate(sample.multi_label),
                             Cutter(tokenizer, budget), sample.multi_label, list(sample.label_set))


def longest_pair(tokenizer, sample) -> int:
    if sample.pairs is None:
        return 0
    return max(len(ids) for ids in tokenizer(list(sample.pairs), add_special_tokens=False)["input_ids"])

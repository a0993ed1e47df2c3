"""The workload: the shipped sample's texts, repeated to the requested number of rows."""

from __future__ import annotations

import dataclasses

from core.dataset import LabeledSample, load_csv
from core.paths import EXAMPLE_SAMPLE


def load_sample() -> LabeledSample:
    return load_csv(EXAMPLE_SAMPLE)


def repeat_rows(sample: LabeledSample, rows: int) -> LabeledSample:
    """The first `rows` rows of the sample repeated end to end (mixed lengths, same label set)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    picks = [i % len(sample) for i in range(rows)]
    return dataclasses.replace(
        sample,
        texts=[sample.texts[i] for i in picks],
        labels=[sample.labels[i] for i in picks],
        pairs=[sample.pairs[i] for i in picks] if sample.pairs else None,
        duplicates=0,
        warnings=[],
    )

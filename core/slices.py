"""Which slice each row of a sample belongs to: the metadata columns chosen on Sample (or with
`--slice-column`), and always the text length in token quartiles of the sample.

Tokens here are words and punctuation marks (the same count for every model, so one bucket means the
same rows for every trial). How each trial scores per slice is core.compare.slices'.
"""

from __future__ import annotations

import re

import numpy as np

from core.dataset import LabeledSample

LENGTH_SLICE = "text length"
TOKEN = re.compile(r"\w+|[^\w\s]")


def slice_memberships(sample: LabeledSample) -> dict[str, list[str]]:
    """Slice column -> each row's slice, in row order; the length buckets come last."""
    memberships = {column: list(values) for column, values in sample.metadata.items()}
    memberships[LENGTH_SLICE] = length_buckets(token_counts(sample.texts, sample.pairs))
    return memberships


def metadata_of(slices: dict[str, list[str]]) -> dict[str, list[str]]:
    """The chosen metadata columns of stored slices (the length buckets are computed again)."""
    return {column: list(values) for column, values in slices.items() if column != LENGTH_SLICE}


def token_counts(texts: list[str], pairs: list[str] | None = None) -> list[int]:
    pairs = pairs or [""] * len(texts)
    return [len(TOKEN.findall(text)) + len(TOKEN.findall(pair or "")) for text, pair in zip(texts, pairs)]


def length_buckets(counts: list[int]) -> list[str]:
    """Quartiles of the sample's token counts, named by the counts they hold ("Q1: 3-12 tokens").
    Equal quartile edges merge (a sample of equal lengths has one bucket)."""
    if not counts:
        return []
    values = np.asarray(counts)
    edges = np.unique(np.quantile(values, [0.25, 0.5, 0.75]))
    buckets = np.searchsorted(edges, values, side="left")  # bucket i holds counts in (edges[i-1], edges[i]]
    names = {}
    for position, bucket in enumerate(sorted(set(buckets.tolist()))):
        members = values[buckets == bucket]
        names[bucket] = f"Q{position + 1}: {members.min()}-{members.max()} tokens"
    return [names[b] for b in buckets.tolist()]

"""Batching helpers: length ordering, dynamic padding, truncation counts."""

import numpy as np
import torch

from core.inference import collate, encode, plan_batches
from core.timing import Latency
from tests import tiny_models


def test_batches_cover_every_row_once_longest_first():
    lengths = np.array([3, 9, 1, 7, 7, 2, 5])
    batches = plan_batches(lengths, 3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(7))
    assert [lengths[b].max() for b in batches] == sorted([lengths[b].max() for b in batches], reverse=True)
    assert lengths[batches[0]].tolist() == [9, 7, 7]


def test_collate_pads_to_the_longest_row_on_either_side():
    features = [{"input_ids": [5, 6, 7]}, {"input_ids": [8]}]
    right = collate(features, pad_id=0)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    left = collate(features, pad_id=0, padding_side="left")
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]


def test_encode_truncates_only_long_rows_and_counts_them():
    tokenizer = tiny_models.build_tokenizer(tiny_models.corpus())
    texts = ["the app", " ".join(["crash"] * 30), "error"]
    encoded = encode(tokenizer, texts, max_length=10)
    assert encoded.truncated_rows == 1
    assert encoded.lengths.tolist() == [4, 10, 3]
    assert encoded.features[1]["input_ids"][-1] == tokenizer.sep_token_id


def test_latency_statistics_match_numpy():
    values = [5.0, 1.0, 3.0, 2.0, 4.0, 100.0]
    latency = Latency.from_values(values)
    assert latency.p50_ms == np.percentile(values, 50) and latency.p95_ms == np.percentile(values, 95)
    assert latency.mean_ms == np.mean(values) and latency.stdev_ms == np.std(values, ddof=1)
    assert torch.tensor(values).median().item() <= latency.p50_ms

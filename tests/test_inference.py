"""Batching helpers: length ordering, dynamic padding, truncation counts."""

import itertools
import platform

import numpy as np
import torch

from core import inference
from core.inference import collate, encode, plan_batches
from core.timing import Latency, give_back_freed_memory
from tests import tiny_models


def test_batches_cover_every_row_once_longest_first():
    lengths = np.array([3, 9, 1, 7, 7, 2, 5])
    batches = plan_batches(lengths, 3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(7))
    assert [lengths[b].max() for b in batches] == sorted([lengths[b].max() for b in batches], reverse=True)
    assert lengths[batches[0]].tolist() == [9, 7, 7]


def plan_cost(lengths: np.ndarray, batches: list[np.ndarray], batch_cost: int) -> int:
    return sum(len(b) * int(lengths[b].max()) + batch_cost for b in batches)


def cheapest_by_brute_force(lengths: np.ndarray, batch_size: int, batch_cost: int, max_tokens: int) -> int:
    """Every way to cut the longest-first order into runs, kept when each run fits both caps."""
    ordered = sorted(lengths.tolist(), reverse=True)
    best = None
    for mask in itertools.product([False, True], repeat=len(ordered) - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(mask) if cut] + [len(ordered)]
        runs = [ordered[a:b] for a, b in zip(bounds, bounds[1:])]
        if all(len(r) <= batch_size and (len(r) * r[0] <= max_tokens or len(r) == 1) for r in runs):
            cost = sum(len(r) * r[0] + batch_cost for r in runs)
            best = cost if best is None else min(best, cost)
    return best


def test_the_batch_plan_is_the_cheapest_cut_under_both_caps():
    rng = np.random.default_rng(0)
    for _ in range(60):
        lengths = rng.integers(1, 60, size=rng.integers(2, 9))
        batches = plan_batches(lengths, 3, batch_cost_tokens=20, max_batch_tokens=90)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
        assert all(len(b) <= 3 and (len(b) * lengths[b].max() <= 90 or len(b) == 1) for b in batches)
        assert plan_cost(lengths, batches, 20) == cheapest_by_brute_force(lengths, 3, 20, 90)


def test_long_rows_share_batches_only_up_to_the_token_cap():
    lengths = np.array([512] * 100 + [40] * 100)
    batches = plan_batches(lengths, 32, batch_cost_tokens=96, max_batch_tokens=4096)
    assert max(len(b) * lengths[b].max() for b in batches) <= 4096
    assert {len(b) for b in batches if lengths[b].max() == 512} == {8, 4}  # 12 x 8 rows, then 4
    assert max(len(b) for b in batches) == 32  # short rows still fill whole batches


def test_encoding_in_chunks_gives_the_tokenizers_own_ids(monkeypatch):
    tokenizer = tiny_models.build_tokenizer(tiny_models.corpus())
    texts = [" ".join(["the app crash"] * n) for n in range(1, 12)]
    monkeypatch.setattr(inference, "ENCODE_CHUNK_ROWS", 3)
    encoded = inference.encode(tokenizer, texts, max_length=20)
    whole = tokenizer(texts, truncation=True, max_length=20)
    assert [f["input_ids"].tolist() for f in encoded.features] == whole["input_ids"]
    assert encoded.features[0]["input_ids"].dtype == np.int32
    assert encoded.truncated_rows == sum(len(ids) > 20 for ids in tokenizer(texts)["input_ids"])


def test_freed_memory_is_given_back_on_glibc():
    assert give_back_freed_memory() is (platform.libc_ver()[0] == "glibc")


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

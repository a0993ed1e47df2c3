"""Tiny models for tests, built offline with transformers and saved like Hub repos.

Each builder writes a normal model folder (config.json, model.safetensors, tokenizer
files) so the real loading code reads it exactly as it would read a downloaded repo.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizer,
)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_POSITIONS = 64

#: Words for a synthetic support-ticket task a tiny model can learn in a few steps.
KEYWORDS = {
    "bug": ["crash", "error", "broken", "fails", "freezes", "wrong"],
    "feature_request": ["please", "add", "wish", "could", "support", "option"],
    "general_inquiry": ["price", "hours", "contact", "invoice", "plan", "account"],
}
FILLER = ["the", "app", "when", "i", "export", "my", "report", "on", "mobile", "today", "is", "a", "this", "we", "it"]
HYPOTHESIS_WORDS = ["this", "example", "is", "about", "bug", "feature_request", "general_inquiry", "."]


def build_vocab(texts: list[str]) -> dict[str, int]:
    """A word-level vocabulary covering every word in `texts` (lower-cased, split like BERT)."""
    words = sorted({w for text in texts for w in re.findall(r"[a-z0-9]+|[^a-z0-9\s]", text.lower())})
    tokens = SPECIAL_TOKENS + [w for w in words if w not in SPECIAL_TOKENS]
    return {token: index for index, token in enumerate(tokens)}


def build_tokenizer(texts: list[str]) -> BertTokenizer:
    tokenizer = BertTokenizer(vocab=build_vocab(texts), model_max_length=MAX_POSITIONS)
    assert "[UNK]" not in tokenizer.tokenize(texts[0]), "tiny vocab does not cover the corpus"
    return tokenizer


def tiny_config(vocab_size: int, **overrides) -> BertConfig:
    config = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=MAX_POSITIONS,
    )
    config.update(overrides)
    return BertConfig(**config)


def synthetic_rows(n_per_label: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    """Short texts whose label is given away by a keyword: learnable by a tiny model."""
    rng = random.Random(seed)
    rows = []
    for label, keywords in KEYWORDS.items():
        for _ in range(n_per_label):
            words = rng.sample(FILLER, rng.randint(2, 8)) + [rng.choice(keywords)]
            rng.shuffle(words)
            rows.append((" ".join(words), label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def corpus() -> list[str]:
    words = FILLER + HYPOTHESIS_WORDS + [w for ws in KEYWORDS.values() for w in ws]
    return [" ".join(words)]


def save(model, tokenizer, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def build_classifier(folder: Path, labels: list[str], *, seed: int = 0) -> Path:
    """An untrained sequence classifier with the given label names."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(corpus())
    config = tiny_config(
        len(tokenizer),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    return save(BertForSequenceClassification(config).eval(), tokenizer, folder)


def build_trained_classifier(folder: Path, rows: list[tuple[str, str]], *, steps: int = 150, seed: int = 0) -> Path:
    """A classifier trained on `rows` until it is right on nearly all of them."""
    labels = sorted(KEYWORDS)
    build_classifier(folder, labels, seed=seed)
    tokenizer = BertTokenizer.from_pretrained(folder)
    model = BertForSequenceClassification.from_pretrained(folder)
    texts = [text for text, _ in rows]
    targets = torch.tensor([labels.index(label) for _, label in rows])
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return save(model.eval(), tokenizer, folder)


def build_nli(folder: Path, *, seed: int = 0, entailment_index: int = 2) -> Path:
    """An NLI-shaped classifier (entailment / neutral / contradiction), random weights."""
    order = ["contradiction", "neutral", "entailment"]
    order.remove("entailment")
    order.insert(entailment_index, "entailment")
    return build_classifier(folder, order, seed=seed)


def build_encoder(folder: Path, *, seed: int = 0) -> Path:
    """A plain encoder (feature extraction), random weights."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(corpus())
    return save(BertModel(tiny_config(len(tokenizer))).eval(), tokenizer, folder)

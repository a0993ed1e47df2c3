"""Tiny model folders and a fake-Hub catalog with realistic metadata, for the hub tests.

Every model is a 2-layer BERT with hidden size 32 and a word-level vocabulary, saved like a
Hub repo (config.json, model.safetensors, tokenizer files, README.md with card metadata).
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import shutil
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests import tiny_models

#: The synthetic tickets' words (tests.tiny_models), so the unknown-token guard passes these models on that sample.
WORDS = [w for w in tiny_models.build_vocab(tiny_models.corpus() + ["this is about ."]) if w not in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NLI_LABELS = ["contradiction", "neutral", "entailment"]
TICKET_LABELS = ["bug", "feature_request", "general_inquiry"]
CUSTOM_CODE = "from transformers import BertForSequenceClassification as CustomModel\n"


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def guard_network(monkeypatch) -> list[str]:
    """Refuse every host but this machine, and return the refused names (a test asserts none).

    Also stops huggingface_hub's once-per-process telemetry request, which goes to the
    endpoint it read at import time (huggingface.co in the test process), not to ours.
    """
    from huggingface_hub import constants

    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if str(host) not in LOCAL_HOSTS:
            refused.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, f"tests may only reach 127.0.0.1, not {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return refused


def iso_days_ago(days: int) -> str:
    moment = datetime.now(timezone.utc) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def build_tokenizer():
    from transformers import BertTokenizer

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + WORDS)}
    tokenizer = BertTokenizer(vocab=vocab, model_max_length=64)
    assert tokenizer.tokenize("the app crash") == ["the", "app", "crash"], "tiny vocab was ignored"
    return tokenizer


def tiny_config(**overrides):
    from transformers import BertConfig

    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    return BertConfig(vocab_size=len(SPECIAL_TOKENS + WORDS), max_position_embeddings=64, **size, **overrides)


def save_model(model, folder: Path, *, card: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


def build_classifier(folder: Path, labels: list[str] = TICKET_LABELS, *, card: str | None = None) -> Path:
    """A sequence classifier with the given label names (random weights)."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    config = tiny_config(
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)}
    )
    return save_model(BertForSequenceClassification(config).eval(), folder, card=card)


def build_encoder(folder: Path, *, card: str | None = None) -> Path:
    """A plain encoder for feature extraction (random weights)."""
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    return save_model(BertModel(tiny_config()).eval(), folder, card=card)


def make_pickle_only(folder: Path) -> Path:
    """Replace the safetensors weights with a pickled state dict (pytorch_model.bin)."""
    import torch
    from safetensors.torch import load_file

    weights = folder / "model.safetensors"
    torch.save(load_file(weights), folder / "pytorch_model.bin")
    weights.unlink()
    return folder


def make_custom_code(folder: Path) -> Path:
    """Make the config point at a modeling file shipped in the repo (needs trust_remote_code)."""
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_custom.CustomModel"}
    config_path.write_text(json.dumps(config, indent=2))
    (folder / "modeling_custom.py").write_text(CUSTOM_CODE)
    return folder


def card(*, license: str | None = "apache-2.0", language: str = "en", base_model: str | None = None, body_chars: int = 600) -> str:
    """A model card with YAML front matter and `body_chars` of prose."""
    meta = [f"license: {license}"] if license else []
    meta += [f"language:\n- {language}"]
    meta += [f"base_model: {base_model}"] if base_model else []
    body = ("This tiny model classifies support tickets. " * (body_chars // 43 + 1))[:body_chars]
    return "---\n" + "\n".join(meta) + "\n---\n\n# Model card\n\n" + body + "\n"


def write_meta(folder: Path, **meta) -> Path:
    (folder / "hub_meta.json").write_text(json.dumps(meta, indent=2))
    return folder


def build_catalog_folders(root: Path) -> dict[str, Path]:
    """Model folders for the test catalog; returns repo id -> folder (each has hub_meta.json)."""
    root.mkdir(parents=True, exist_ok=True)
    base = build_classifier(root / "_base_classifier", card=card(base_model="bert-base-uncased"))
    folders = {
        "acme/ticket-classifier": _copy(base, root / "ticket-classifier"),
        "acme/tiny-nli": build_classifier(root / "tiny-nli", NLI_LABELS, card=card(license="mit")),
        "bob/small-encoder": build_encoder(root / "small-encoder"),
        "acme/gated-classifier": _copy(base, root / "gated-classifier"),
        "eve/pickle-classifier": make_pickle_only(_copy(base, root / "pickle-classifier")),
        "eve/custom-classifier": make_custom_code(_copy(base, root / "custom-classifier")),
        "acme/secret-classifier": _copy(base, root / "secret-classifier"),
    }
    shutil.rmtree(base)
    for repo_id, meta in catalog_meta().items():
        write_meta(folders[repo_id], **meta)
    return folders


def catalog_meta() -> dict[str, dict]:
    """Realistic, distinct numbers so sorting and the readiness checklist can be tested."""
    return {
        "acme/ticket-classifier": dict(downloads=52_000, likes=130, trending_score=40, created_at="2023-03-01T08:00:00.000Z",
                                       last_modified=iso_days_ago(20), tags=["text-classification-demo"]),
        "acme/tiny-nli": dict(downloads=21_000, likes=45, trending_score=90, created_at="2023-06-01T08:00:00.000Z",
                              last_modified=iso_days_ago(60), pipeline_tag="zero-shot-classification"),
        "bob/small-encoder": dict(downloads=300, likes=2, trending_score=1, created_at="2021-01-10T08:00:00.000Z",
                                  last_modified="2021-02-01T08:00:00.000Z"),
        "acme/gated-classifier": dict(downloads=8_000, likes=15, trending_score=5, created_at="2024-02-01T08:00:00.000Z",
                                      last_modified=iso_days_ago(5), gated="manual"),
        "eve/pickle-classifier": dict(downloads=4_000, likes=11, trending_score=3, created_at="2022-05-01T08:00:00.000Z",
                                      last_modified=iso_days_ago(100), pipeline_tag="text-classification"),
        "eve/custom-classifier": dict(downloads=2_500, likes=30, trending_score=60, created_at="2024-05-01T08:00:00.000Z",
                                      last_modified=iso_days_ago(10)),
        "acme/secret-classifier": dict(downloads=10, likes=0, private=True),
    }


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# --------------------------------------------------------------------------- hostile repos (issue 8)


class _RunsCommand:
    """Pickles as a call of os.system: whoever unpickles it runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def write_pickle_canary(path: Path, marker: Path) -> Path:
    """A `pytorch_model.bin` whose unpickling would create `marker` (built here, never loaded)."""
    path.write_bytes(pickle.dumps({"bert.embeddings.word_embeddings.weight": _RunsCommand(f"touch {shlex.quote(str(marker))}")}, protocol=2))
    return path


def make_code_canary(folder: Path, marker: Path) -> Path:
    """Declare custom code (auto_map) whose modeling file creates `marker` when it is imported."""
    make_custom_code(folder)
    (folder / "modeling_custom.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + CUSTOM_CODE)
    return folder


def make_tokenizer_code(folder: Path) -> Path:
    """Declare a tokenizer whose code lives in another repo (no .py file in this one)."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["auto_map"] = {"AutoTokenizer": ["eve/tokenizers--tokenization_evil.EvilTokenizer", None]}
    path.write_text(json.dumps(config, indent=2))
    return folder


def build_hostile_folders(root: Path, markers: Path) -> dict[str, Path]:
    """A safe model, pickle and custom-code canaries, a real pickle-only model, gated and mixed repos.

    Canaries create a file under `markers` if anything ever runs them.
    """
    root.mkdir(parents=True, exist_ok=True)
    base = build_classifier(root / "_base")
    folders = {
        "acme/ticket-classifier": _copy(base, root / "ticket-classifier"),
        "acme/gated-classifier": _copy(base, root / "gated-classifier"),
        "eve/pickle-classifier": make_pickle_only(_copy(base, root / "pickle-classifier")),
        "eve/pickle-canary": _copy(base, root / "pickle-canary"),
        "eve/mixed-canary": _copy(base, root / "mixed-canary"),
        "eve/code-canary": make_code_canary(_copy(base, root / "code-canary"), markers / "code-ran"),
        "eve/tokenizer-code": make_tokenizer_code(_copy(base, root / "tokenizer-code")),
    }
    shutil.rmtree(base)
    (folders["eve/pickle-canary"] / "model.safetensors").unlink()
    for name in ("pickle-canary", "mixed-canary"):
        write_pickle_canary(folders[f"eve/{name}"] / "pytorch_model.bin", markers / f"{name}-ran")
    write_meta(folders["acme/gated-classifier"], gated="manual")
    return folders

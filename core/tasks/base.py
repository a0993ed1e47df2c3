"""What every evaluation kind shares: options, predictions, and the predictor shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.dataset import LabeledSample
from core.loading import Head, LoadedModel

OnRows = Callable[[int], None]
DEFAULT_TEMPLATE = "This example is {}."
#: The fine-tune kind's defaults, for a few hundred labeled rows (measured in BENCHMARKS.md).
FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE, FINE_TUNE_BATCH_SIZE = 3.0, 1e-4, 16


@dataclass(frozen=True)
class TaskOptions:
    """Per-trial choices a user can make about how a model is scored."""

    batch_size: int = 32
    label_map: dict[str, str] = field(default_factory=dict)
    label_index_mapping: bool = False
    hypothesis_template: str = DEFAULT_TEMPLATE
    label_descriptions: dict[str, str] = field(default_factory=dict)
    folds: int = 5
    seed: int = 0
    #: Fine-tune trials: epochs, learning rate and training batch size (core.tasks.fine_tune).
    epochs: float = FINE_TUNE_EPOCHS
    learning_rate: float = FINE_TUNE_LEARNING_RATE
    train_batch_size: int = FINE_TUNE_BATCH_SIZE
    patience: int = 1
    #: Fine-tune: also train on 25/50/75% of each fold for a learning curve (3 more trainings per fold).
    learning_curve: bool = False
    #: Rules trials: the rules (core.rules.rules_as_settings).
    rules: dict | None = None


@dataclass
class Predictions:
    """One entry per sample row: predicted label(s) and the model's confidence in them."""

    labels: list[tuple[str, ...]]
    scores: list[float]
    notes: list[str] = field(default_factory=list)
    #: Per row, the probability of each sample label (in `LabeledSample.label_set` order).
    probabilities: list[list[float]] | None = None
    #: Rules: the share of rows where a rule fired.
    coverage: float | None = None
    #: Probe and fine-tune: accuracy with part of the training folds (core.learning_curve).
    learning_curve: Any = None


class Predictor(Protocol):
    """A model made ready for one sample. `run` is what gets timed; `finish` scores all rows."""

    truncated_rows: int
    notes: list[str]

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None) -> Any: ...

    def finish(self, outputs: Any) -> Predictions: ...


class Kind(Protocol):
    name: str
    #: Which model head to load; None for baselines that need no model.
    head: Head | None

    def prepare(self, loaded: LoadedModel | None, sample: LabeledSample, options: TaskOptions) -> Predictor: ...


def forward_rows(loaded: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, forward, *, batch_size: int,
                 on_rows: OnRows | None = None) -> tuple[Any, int]:
    """Every row tokenized once and run through `forward` in batches: the outputs in row order,
    and how many rows were truncated to the model's length (what a predictor's `run` does)."""
    from core.inference import encode, run_batches

    encoded = encode(loaded.tokenizer, texts, pairs, max_length=loaded.max_length)
    outputs = run_batches(loaded.model, loaded.tokenizer, encoded, forward, batch_size=batch_size, device=loaded.device,
                          on_rows=on_rows)
    return outputs, encoded.truncated_rows

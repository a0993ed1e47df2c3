"""`fine-tune`: how good a candidate gets after a short fine-tune on the sample's own labels.

k-fold (stratified, seeded): a fresh classifier (the candidate's encoder with a classification head
for the sample's labels; a head it lacks is initialised randomly, as fine-tuning would) is trained with
transformers' Trainer on k-1 folds, minus an inner validation split used for early stopping, and
predicts the held-out fold. Every row is predicted by a model that never saw it. Latency is timed on
the last fold's model (the same architecture as a model trained on every row).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from sklearn.model_selection import KFold, train_test_split

from core.dataset import LabeledSample
from core.errors import AppError
from core.inference import classifier_logits
from core.learning_curve import learning_curve
from core.loading import LoadedModel, read_classifier_for_training
from core.results import FoldTraining
from core.store.model import TRAINING_STEP
from core.tasks.base import (
    FINE_TUNE_BATCH_SIZE, FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE, OnRows, Predictions, TaskOptions, forward_rows,
)
from core.tasks.cross_validation import MULTI_LABEL_THRESHOLD, fold_count, stratified_splits

Report = Callable[..., None]
#: The training length covers this share of the sample's rows (the longest few are truncated).
LENGTH_COVERAGE = 0.95


class TrainingError(AppError):
    """A fine-tune that could not finish (out of memory, no rows to train on)."""


@dataclass(frozen=True)
class FineTuneSettings:
    """The hyper-parameters of a fine-tune trial; defaults suit a few hundred labeled rows."""

    epochs: float = FINE_TUNE_EPOCHS
    learning_rate: float = FINE_TUNE_LEARNING_RATE
    folds: int = 5
    batch_size: int = FINE_TUNE_BATCH_SIZE
    warmup: float = 0.1  # share of the steps with a linear warm-up
    weight_decay: float = 0.01
    patience: int = 1  # epochs without a better validation loss before stopping; 0: no early stopping
    learning_curve: bool = False  # also train on 25/50/75% of each fold's rows
    validation_share: float = 0.1
    seed: int = 0

    @classmethod
    def of(cls, options: TaskOptions) -> FineTuneSettings:
        return cls(epochs=options.epochs, learning_rate=options.learning_rate, folds=options.folds,
                   batch_size=options.train_batch_size, patience=options.patience, seed=options.seed,
                   learning_curve=options.learning_curve)


@dataclass
class FineTunePredictor:
    loaded: LoadedModel
    sample: LabeledSample
    settings: FineTuneSettings
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)
    folds: list[FoldTraining] = field(default_factory=list)
    max_length: int = 0
    predictions: Predictions | None = None
    last_model: torch.nn.Module | None = None

    def __post_init__(self) -> None:
        self.max_length = training_length(self.loaded, self.sample)

    # -- training: every fold ------------------------------------------------------------------

    def train(self, report: Report) -> None:
        sample, settings = self.sample, self.settings
        k = fold_count(sample, settings.folds)
        encoded = self.encode(sample.texts, sample.pairs)
        targets = training_targets(sample)
        probabilities = np.zeros((len(sample), len(sample.label_set)))
        initial = read_classifier_for_training(self.loaded, sample.label_set, sample.multi_label, seed=settings.seed)
        start_state = {name: tensor.clone() for name, tensor in initial.state_dict().items()}
        splits = fold_splits(sample, k, settings.seed)
        with tempfile.TemporaryDirectory(prefix="msd-fine-tune-") as scratch:
            for fold, (train_rows, held_out) in enumerate(splits, start=1):
                initial.load_state_dict(start_state)
                model, record = self.train_fold(initial, encoded, targets, train_rows, held_out, fold, k, scratch, report)
                probabilities[held_out] = self.predict(model, [encoded[i] for i in held_out])
                self.folds.append(record)
                self.last_model = model
            self.predictions = self.decide(probabilities, k)
            if settings.learning_curve and not sample.multi_label:
                trainings = iter(range(1, 3 * k + 1))

                def fit_predict(train_rows, held_out):  # a fresh model on part of a fold's rows
                    initial.load_state_dict(start_state)
                    step = f"learning curve {next(trainings)} of {3 * k}:"
                    model, _ = self.train_fold(initial, encoded, targets, train_rows, held_out, 0, 0, scratch,
                                               lambda _, done, total: report(f"{TRAINING_STEP} {step}", done, total))
                    chosen = self.predict(model, [encoded[i] for i in held_out]).argmax(axis=1)
                    return [sample.label_set[j] for j in chosen]

                self.predictions.learning_curve = learning_curve(
                    sample, splits, fit_predict, seed=settings.seed, full=[row[0] for row in self.predictions.labels])

    def train_fold(self, model, encoded, targets, train_rows, held_out, fold: int, k: int, scratch: str, report: Report):
        fit_rows, validation_rows = inner_split(self.sample, train_rows, self.settings)
        trainer = self.trainer(model, [with_target(encoded[i], targets[i]) for i in fit_rows],
                               [with_target(encoded[i], targets[i]) for i in validation_rows], scratch,
                               fold_progress(report, fold, k))
        started = time.perf_counter()
        try:
            trainer.train()
        except (torch.OutOfMemoryError, MemoryError) as error:
            smaller = max(1, self.settings.batch_size // 2)
            raise TrainingError(
                f"Fine-tuning ran out of memory on {self.loaded.device} in fold {fold} at training batch size "
                f"{self.settings.batch_size}.",
                hint=f"Lower the training batch size (--train-batch-size {smaller}) or the maximum length (--max-length).",
            ) from error
        return trainer.model.eval(), fold_record(trainer, fold, fit_rows, validation_rows, held_out,
                                                 time.perf_counter() - started)

    def trainer(self, model, fit, validation, scratch: str, progress):
        """Trainer for one fold: evaluated each epoch; with patience, stopped early and the best epoch kept."""
        from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments
        from transformers.trainer_callback import PrinterCallback

        s = self.settings
        stopping = s.patience > 0
        arguments = TrainingArguments(
            output_dir=scratch, num_train_epochs=s.epochs, learning_rate=s.learning_rate, warmup_steps=s.warmup,
            weight_decay=s.weight_decay, per_device_train_batch_size=s.batch_size,
            per_device_eval_batch_size=s.batch_size, eval_strategy="epoch", save_strategy="epoch" if stopping else "no",
            load_best_model_at_end=stopping, metric_for_best_model="eval_loss", greater_is_better=False,
            save_total_limit=1, save_only_model=True, logging_strategy="steps", logging_steps=1, report_to="none",
            disable_tqdm=True, seed=s.seed, data_seed=s.seed, use_cpu=self.loaded.device == "cpu",
            dataloader_pin_memory=False,
        )
        callbacks = [progress, *([EarlyStoppingCallback(early_stopping_patience=s.patience)] if stopping else [])]
        trainer = Trainer(model=model, args=arguments, train_dataset=fit, eval_dataset=validation,
                          data_collator=DataCollatorWithPadding(self.loaded.tokenizer), callbacks=callbacks)
        trainer.remove_callback(PrinterCallback)  # our progress reports the steps; the log is kept in the state
        return trainer

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None) -> list[dict]:
        tokenizer = self.loaded.tokenizer
        encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=True,
                            max_length=self.max_length)
        lengths = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=False)["input_ids"]
        self.truncated_rows = sum(len(ids) > self.max_length for ids in lengths)
        return [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]

    def predict(self, model, rows: list[dict]) -> np.ndarray:
        from transformers import DataCollatorWithPadding

        collate = DataCollatorWithPadding(self.loaded.tokenizer)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(rows), self.settings.batch_size):
                batch = {k: v.to(model.device) for k, v in collate(rows[start:start + self.settings.batch_size]).items()}
                logits = model(**batch).logits.float()
                outputs.append(torch.sigmoid(logits) if self.sample.multi_label else torch.softmax(logits, dim=-1))
        return torch.cat(outputs).cpu().numpy()

    def decide(self, probabilities: np.ndarray, k: int) -> Predictions:
        labels = self.sample.label_set
        if self.sample.multi_label:
            chosen = [tuple(l for l, p in zip(labels, row) if p >= MULTI_LABEL_THRESHOLD) for row in probabilities]
        else:
            chosen = [(labels[int(row.argmax())],) for row in probabilities]
        spent = sum(f.train_s for f in self.folds)
        stopped = [f.fold for f in self.folds if f.epochs_run < self.settings.epochs]
        note = (f"Fine-tuned with transformers' Trainer, {k}-fold cross-validation (seed {self.settings.seed}): each "
                f"row predicted by a model trained without it. {self.settings.epochs:g} epochs at learning rate "
                f"{self.settings.learning_rate:g}, batch {self.settings.batch_size}, max length {self.max_length}; "
                f"training took {spent:.1f} s in all ({spent / k:.1f} s per fold)"
                + (f"; early stopping ended fold(s) {', '.join(map(str, stopped))} sooner." if stopped else "."))
        return Predictions(chosen, probabilities.max(axis=1).tolist(), [*self.notes, note], probabilities.tolist())

    # -- the timed pass and the scores ----------------------------------------------------------

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        trained = replace(self.loaded, model=self.last_model, max_length=self.max_length)
        logits, _ = forward_rows(trained, texts, pairs, classifier_logits, batch_size=batch_size, on_rows=on_rows)
        return logits

    def finish(self, outputs) -> Predictions:
        return self.predictions


def fold_progress(report: Report, fold: int, folds: int):
    """A Trainer callback reporting each step as "fine-tuning fold i of k", with steps done of all."""
    from transformers import TrainerCallback

    step = f"{TRAINING_STEP} fold {fold} of {folds}"

    class FoldProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            report(step, state.global_step, state.max_steps)

    return FoldProgress()


class FineTune:
    name = "fine-tune"
    head = "encoder"  # the checkpoint's encoder must be complete; the head is made for the sample's labels

    def prepare(self, loaded: LoadedModel, sample: LabeledSample, options: TaskOptions) -> FineTunePredictor:
        fold_count(sample, options.folds)  # fail before any training if the sample cannot be cross-validated
        return FineTunePredictor(loaded, sample, FineTuneSettings.of(options))


def training_length(loaded: LoadedModel, sample: LabeledSample) -> int:
    """Tokens per row for training: enough for LENGTH_COVERAGE of the rows, a multiple of 8, at most the model's."""
    lengths = [len(ids) for ids in loaded.tokenizer(list(sample.texts), list(sample.pairs) if sample.pairs else None,
                                                    truncation=False)["input_ids"]]
    wanted = int(math.ceil(np.quantile(lengths, LENGTH_COVERAGE) / 8) * 8)
    return max(8, min(wanted, loaded.max_length))


def training_targets(sample: LabeledSample) -> list:
    if sample.multi_label:
        return [[float(label in row) for label in sample.label_set] for row in sample.labels]
    return [sample.label_set.index(row[0]) for row in sample.labels]


def with_target(row: dict, target) -> dict:
    return {**row, "labels": target}


def fold_splits(sample: LabeledSample, k: int, seed: int):
    """(training rows, held-out rows) per fold: the probe's and baselines' folds for single-label samples."""
    if sample.multi_label:
        return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(len(sample))))
    return stratified_splits(sample, k, seed)


def inner_split(sample: LabeledSample, train_rows: np.ndarray, settings: FineTuneSettings) -> tuple[list[int], list[int]]:
    """The training rows of a fold split again: most to fit, a few for early stopping (stratified when
    every label has 2 rows among them)."""
    labels = [sample.labels[i][0] for i in train_rows] if not sample.multi_label else None
    stratify = labels if labels and min(labels.count(label) for label in set(labels)) >= 2 else None
    size = max(settings.validation_share, len(set(labels or [])) / len(train_rows)) if stratify else settings.validation_share
    fit, validation = train_test_split(list(train_rows), test_size=size, random_state=settings.seed, stratify=stratify)
    return [int(i) for i in fit], [int(i) for i in validation]


def fold_record(trainer, fold: int, fit_rows, validation_rows, held_out, train_s: float) -> FoldTraining:
    history = trainer.state.log_history
    losses = [(round(entry["epoch"], 4), round(entry["loss"], 6)) for entry in history if "loss" in entry]
    validation = [(round(entry["epoch"], 4), round(entry["eval_loss"], 6)) for entry in history if "eval_loss" in entry]
    return FoldTraining(
        fold=fold, train_rows=len(fit_rows), validation_rows=len(validation_rows), held_out_rows=len(held_out),
        epochs_run=round(trainer.state.epoch or 0.0, 4), steps=trainer.state.global_step, train_s=round(train_s, 3),
        best_validation_loss=min((loss for _, loss in validation), default=None), losses=losses,
        validation_losses=validation,
    )


# -- how long a fine-tune trial will take, from a short timed step ------------------------------

#: Evaluation each epoch, predicting the held-out fold and checkpoints add about this much to training.
OVERHEAD = 1.25
TIMED_STEPS = 3


@dataclass(frozen=True)
class TrainingEstimate:
    step_s: float
    steps: int  # over every fold
    folds: int
    seconds: float

    @property
    def sentence(self) -> str:
        return (f"About {self.seconds / 60:.1f} min of fine-tuning: {self.folds} folds, {self.steps} training steps in "
                f"all at {self.step_s:.2f} s per step (timed on this server now), plus evaluation each epoch.")


def estimate_training(loaded: LoadedModel, sample: LabeledSample, settings: FineTuneSettings) -> TrainingEstimate:
    """Time a few optimizer steps on a seeded random batch of the sample (padded to its longest row, as
    the Trainer's batches are; plain torch: the Trainer's own overhead is in OVERHEAD) and scale them to
    every fold and epoch."""
    k = fold_count(sample, settings.folds)
    predictor = FineTunePredictor(loaded, sample, settings)
    model = read_classifier_for_training(loaded, sample.label_set, sample.multi_label, seed=settings.seed).train()
    chosen = np.random.default_rng(settings.seed).permutation(len(sample))[: settings.batch_size].tolist()
    rows = predictor.encode([sample.texts[i] for i in chosen], [sample.pairs[i] for i in chosen] if sample.pairs else None)
    from transformers import DataCollatorWithPadding

    batch = DataCollatorWithPadding(loaded.tokenizer)([with_target(r, t) for r, t in
                                                        zip(rows, [training_targets(sample)[i] for i in chosen])])
    batch = {key: value.to(loaded.device) for key, value in batch.items()}
    if sample.multi_label:
        batch["labels"] = batch["labels"].float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    timings = []
    for _ in range(TIMED_STEPS + 1):  # the first step warms up
        started = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        timings.append(time.perf_counter() - started)
    step_s = float(np.median(timings[1:]))
    fit_rows = len(sample) * (k - 1) / k * (1 - settings.validation_share)
    steps = k * math.ceil(fit_rows / settings.batch_size) * math.ceil(settings.epochs)
    return TrainingEstimate(round(step_s, 3), steps, k, round(steps * step_s * OVERHEAD, 1))


def estimate_for(source: str, sample: LabeledSample, settings: FineTuneSettings | None = None, *,
                 device: str = "cpu") -> TrainingEstimate:
    """Load a model (Hub id or folder, with every load's checks) and estimate its fine-tune trial."""
    from core.loading import ModelSpec, load_model, release

    loaded = load_model(ModelSpec(source), head=FineTune.head, device=device)
    try:
        return estimate_training(loaded, sample, settings or FineTuneSettings())
    finally:
        release(loaded)

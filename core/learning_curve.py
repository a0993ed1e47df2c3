"""Would more labels help? A trial's cross-validated accuracy with 25/50/75/100% of each training fold,
and a power law fitted to those points, extrapolated to 2x and 4x the labels (marked as such).

The subsets are nested (the 25% rows are among the 50% rows, and so on) and drawn label by label in
turn, so every subset holds every label early; each held-out fold is the same at every size, so the
points differ only by how much was learned from. The power law is error = scale * rows^(-exponent),
fitted by least squares on the log-log points (numpy.polyfit): a hint, not a measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.dataset import LabeledSample
from core.metrics import proportion_bootstrap_ci

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
EXTRAPOLATED = (2.0, 4.0)
#: Below this error a point says nothing about the slope (log of ~0): the fit uses this floor.
ERROR_FLOOR = 1e-3

#: Fits on some training rows and returns the predicted label of each held-out row.
FitPredict = Callable[[np.ndarray, np.ndarray], list[str]]


@dataclass(frozen=True)
class CurvePoint:
    fraction: float  # of the training folds (2.0 and 4.0: extrapolated to twice and four times the labels)
    train_rows: float  # mean rows a fold's model learned from
    accuracy: float
    accuracy_ci: tuple[float, float] | None  # None for extrapolated points
    extrapolated: bool = False


@dataclass(frozen=True)
class LearningCurve:
    points: list[CurvePoint]
    scale: float | None  # of the fitted power law (None: too few distinct points to fit)
    exponent: float | None

    @property
    def measured(self) -> list[CurvePoint]:
        return [p for p in self.points if not p.extrapolated]

    def projected(self, fraction: float) -> CurvePoint | None:
        return next((p for p in self.points if p.extrapolated and p.fraction == fraction), None)

    @classmethod
    def from_dict(cls, data: dict) -> LearningCurve:
        points = [CurvePoint(**{**p, "accuracy_ci": tuple(p["accuracy_ci"]) if p["accuracy_ci"] else None})
                  for p in data["points"]]
        return cls(points, data.get("scale"), data.get("exponent"))


def nested_order(rows: np.ndarray, labels: list[str], seed: int) -> list[int]:
    """`rows` shuffled (seeded) and interleaved label by label: every prefix is close to stratified."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for row in rng.permutation(rows).tolist():
        by_label.setdefault(labels[row], []).append(row)
    queues = [by_label[label] for label in sorted(by_label)]
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


def subset(order: list[int], fraction: float, labels_needed: int) -> np.ndarray:
    return np.array(order[: max(labels_needed, int(round(fraction * len(order))))])


def learning_curve(sample: LabeledSample, splits: list[tuple[np.ndarray, np.ndarray]], fit_predict: FitPredict, *,
                   seed: int, full: list[str] | None = None) -> LearningCurve | None:
    """Accuracy at each fraction of the same folds' training rows; `full` (the trial's own predictions)
    stands for 100% when given, so it is not fitted twice. None for multi-label samples."""
    if sample.multi_label:
        return None
    truth = np.array(sample.single_labels)
    points = []
    for fraction in FRACTIONS:
        predicted = np.empty(len(sample), dtype=object)
        rows_used = []
        for fold, (train, held_out) in enumerate(splits):
            if fraction == 1.0 and full is not None:
                predicted[held_out] = np.array(full, dtype=object)[held_out]
                rows_used.append(len(train))
                continue
            chosen = subset(nested_order(train, sample.single_labels, seed + fold), fraction, len(sample.label_set))
            predicted[held_out] = fit_predict(chosen, held_out)
            rows_used.append(len(chosen))
        correct = int((predicted == truth).sum())
        points.append(CurvePoint(fraction, round(float(np.mean(rows_used)), 2), correct / len(sample),
                                 proportion_bootstrap_ci(correct, len(sample))))
    return with_extrapolation(points)


def with_extrapolation(points: list[CurvePoint]) -> LearningCurve:
    """The measured points, then the fitted power law at 2x and 4x the full training rows."""
    rows = np.array([p.train_rows for p in points])
    errors = np.maximum(1 - np.array([p.accuracy for p in points]), ERROR_FLOOR)
    if len(set(rows.tolist())) < 2:
        return LearningCurve(points, None, None)
    slope, intercept = np.polyfit(np.log(rows), np.log(errors), 1)
    scale, exponent = float(np.exp(intercept)), float(-slope)
    full = points[-1].train_rows
    projected = [CurvePoint(f, round(full * f, 2), float(np.clip(1 - scale * (full * f) ** -exponent, 0.0, 1.0)), None,
                            extrapolated=True) for f in EXTRAPOLATED]
    return LearningCurve(points + projected, round(scale, 6), round(exponent, 6))

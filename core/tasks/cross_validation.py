"""Stratified k-fold predictions for every row, shared by the embedding probe and the baselines."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from core.dataset import LabeledSample
from core.errors import InputError
from core.tasks.base import Predictions, TaskOptions

MULTI_LABEL_THRESHOLD = 0.5


def fold_count(sample: LabeledSample, folds: int) -> int:
    """As many folds as asked, but no more than the rarest label has rows."""
    if sample.multi_label:
        return max(2, min(folds, len(sample)))
    rarest_label, rarest = min(Counter(sample.single_labels).items(), key=lambda item: item[1])
    if rarest < 2:
        raise InputError(
            f"Label {rarest_label!r} has a single row; cross-validation needs at least 2 rows per label.",
            hint="Add rows for that label, or remove it from the sample.",
        )
    return min(folds, rarest)


def cross_validated(estimator: BaseEstimator, features, sample: LabeledSample, options: TaskOptions) -> Predictions:
    """Each row predicted by a model fitted on the other folds (honest accuracy, no leakage)."""
    k = fold_count(sample, options.folds)
    if sample.multi_label:
        return _multi_label(estimator, features, sample, k, options.seed)
    labels = np.array(sample.single_labels)
    probabilities = cross_val_predict(clone(estimator), features, labels, cv=stratified_splits(sample, k, options.seed),
                                      method="predict_proba")
    classes = np.unique(labels)
    best = probabilities.argmax(axis=1)
    note = f"Scored by {k}-fold stratified cross-validation (seed {options.seed})."
    return Predictions([(str(classes[j]),) for j in best], probabilities.max(axis=1).tolist(), [note],
                       on_label_set(probabilities, [str(c) for c in classes], sample.label_set))


def stratified_splits(sample: LabeledSample, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (training rows, held-out rows) of each fold: what every cross-validated kind scores with."""
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(sample)), sample.single_labels))


def _multi_label(estimator, features, sample: LabeledSample, k: int, seed: int) -> Predictions:
    binarizer = MultiLabelBinarizer(classes=sample.label_set)
    targets = binarizer.fit_transform(sample.labels)
    cv = KFold(n_splits=k, shuffle=True, random_state=seed)
    probabilities = cross_val_predict(OneVsRestClassifier(clone(estimator)), features, targets, cv=cv, method="predict_proba")
    labels = [
        tuple(label for label, p in zip(sample.label_set, row) if p >= MULTI_LABEL_THRESHOLD) for row in probabilities
    ]
    note = f"Scored by {k}-fold cross-validation, one classifier per label (seed {seed})."
    return Predictions(labels, probabilities.max(axis=1).tolist(), [note], probabilities.tolist())


def on_label_set(probabilities: np.ndarray, classes: list[str], label_set: list[str]) -> list[list[float]]:
    """Columns in `classes` order rearranged into `label_set` order (a label with no column gets 0)."""
    placed = np.zeros((probabilities.shape[0], len(label_set)))
    for j, label in enumerate(classes):
        placed[:, label_set.index(label)] = probabilities[:, j]
    return placed.tolist()


def fit_on_all(estimator: BaseEstimator, features, sample: LabeledSample) -> BaseEstimator:
    """The estimator fitted on every row: what would be deployed, used to time predictions."""
    if sample.multi_label:
        targets = MultiLabelBinarizer(classes=sample.label_set).fit_transform(sample.labels)
        return OneVsRestClassifier(clone(estimator)).fit(features, targets)
    return clone(estimator).fit(features, np.array(sample.single_labels))

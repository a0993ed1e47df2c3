"""Baselines every run includes: the majority class, and TF-IDF + logistic regression.

Scored with the same cross-validation as the embedding probe, so a transformer that does
not beat them is visible at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from core.dataset import LabeledSample
from core.tasks.base import OnRows, Predictions, TaskOptions
from core.tasks.cross_validation import cross_validated, fit_on_all, fold_count


def joined_texts(texts: Sequence[str], pairs: Sequence[str] | None) -> list[str]:
    if pairs is None:
        return list(texts)
    return [f"{text}\n{pair}" for text, pair in zip(texts, pairs)]


@dataclass
class BaselinePredictor:
    estimator: object
    sample: LabeledSample
    options: TaskOptions
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fitted = fit_on_all(self.estimator, joined_texts(self.sample.texts, self.sample.pairs), self.sample)

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        predicted = self.fitted.predict(joined_texts(texts, pairs))
        if on_rows:
            on_rows(len(texts))
        return predicted

    def finish(self, outputs) -> Predictions:
        features = joined_texts(self.sample.texts, self.sample.pairs)
        return cross_validated(self.estimator, features, self.sample, self.options)


class MajorityBaseline:
    name = "baseline-majority"
    head = None

    def prepare(self, loaded, sample: LabeledSample, options: TaskOptions) -> BaselinePredictor:
        fold_count(sample, options.folds)
        return BaselinePredictor(DummyClassifier(strategy="most_frequent"), sample, options)


class TfidfBaseline:
    name = "baseline-tfidf"
    head = None

    def prepare(self, loaded, sample: LabeledSample, options: TaskOptions) -> BaselinePredictor:
        fold_count(sample, options.folds)
        estimator = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=2000)
        )
        return BaselinePredictor(estimator, sample, options)

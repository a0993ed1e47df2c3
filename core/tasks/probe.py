"""`embedding-probe`: how well a linear classifier separates the sample on a model's embeddings.

A cheap estimate of fine-tuning potential: embeddings from any encoder (or the encoder inside a
classifier), pooled as the repo declares (core.pooling), scored by cross-validated logistic regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.dataset import LabeledSample
from core.learning_curve import learning_curve
from core.loading import LoadedModel
from core.pooling import Pooling, pooled_forward, read_pooling
from core.tasks.base import OnRows, Predictions, TaskOptions, forward_rows
from core.tasks.cross_validation import cross_validated, fold_count, stratified_splits


def probe_estimator():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@dataclass
class ProbePredictor:
    loaded: LoadedModel
    sample: LabeledSample
    options: TaskOptions
    pooling: Pooling
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        embeddings, self.truncated_rows = forward_rows(self.loaded, texts, pairs, pooled_forward(self.pooling),
                                                       batch_size=batch_size, on_rows=on_rows)
        return embeddings

    def finish(self, embeddings: torch.Tensor) -> Predictions:
        features = embeddings.numpy()
        predictions = cross_validated(probe_estimator(), features, self.sample, self.options)
        predictions.notes = self.notes + predictions.notes
        predictions.learning_curve = self.curve(features, predictions)
        return predictions

    def pool_windows(self, embeddings: torch.Tensor, owner) -> torch.Tensor:
        """Long texts split into windows (core.long_text): one embedding per row, its windows' mean."""
        from core.long_text import mean_by_owner

        return mean_by_owner(embeddings, owner)

    def curve(self, features, predictions: Predictions):
        """Accuracy with 25/50/75/100% of each training fold (the same folds as the scores)."""
        if self.sample.multi_label:
            return None
        labels = np.array(self.sample.single_labels)

        def fit_predict(train, held_out):
            return clone(probe_estimator()).fit(features[train], labels[train]).predict(features[held_out]).tolist()

        k = fold_count(self.sample, self.options.folds)
        return learning_curve(self.sample, stratified_splits(self.sample, k, self.options.seed), fit_predict,
                              seed=self.options.seed, full=[row[0] for row in predictions.labels])


class EmbeddingProbe:
    name = "embedding-probe"
    head = "encoder"

    def prepare(self, loaded: LoadedModel, sample: LabeledSample, options: TaskOptions) -> ProbePredictor:
        fold_count(sample, options.folds)  # fail before any timing if the sample cannot be cross-validated
        pooling = read_pooling(loaded.files.local_dir)
        notes = [pooling.describe(), "Latency is the encoder's; the logistic-regression head adds well under a millisecond."]
        return ProbePredictor(loaded, sample, options, pooling, notes=notes)

"""`text-classification`: a model with a classification head, its labels mapped to the sample's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from core.dataset import LabeledSample
from core.inference import classifier_logits
from core.loading import LoadedModel
from core.tasks.base import OnRows, Predictions, TaskOptions, forward_rows
from core.tasks.labels import LabelMapping, map_labels

MULTI_LABEL_THRESHOLD = 0.5


def model_label_names(loaded: LoadedModel) -> list[str]:
    id2label = loaded.config.id2label
    return [str(id2label[i]) for i in range(len(id2label))]


@dataclass
class ClassifierPredictor:
    loaded: LoadedModel
    mapping: LabelMapping
    multi_label: bool
    label_set: list[str] = field(default_factory=list)
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        logits, self.truncated_rows = forward_rows(self.loaded, texts, pairs, classifier_logits, batch_size=batch_size,
                                                   on_rows=on_rows)
        return logits

    def finish(self, logits: torch.Tensor) -> Predictions:
        names = model_label_names(self.loaded)
        to_data = self.mapping.model_to_data
        if self.multi_label:
            probabilities = torch.sigmoid(logits)
            labels = [
                tuple(to_data.get(names[j], names[j]) for j in range(len(names)) if row[j] >= MULTI_LABEL_THRESHOLD)
                for row in probabilities.tolist()
            ]
            scores = probabilities.max(dim=-1).values.tolist()
            return Predictions(labels, scores, list(self.notes), self.per_sample_label(probabilities, names, to_data))
        probabilities = torch.softmax(logits, dim=-1)
        best = probabilities.argmax(dim=-1).tolist()
        labels = [(to_data.get(names[j], names[j]),) for j in best]
        scores = probabilities.max(dim=-1).values.tolist()
        return Predictions(labels, scores, list(self.notes), self.per_sample_label(probabilities, names, to_data))

    def per_sample_label(self, probabilities: torch.Tensor, names: list[str], to_data: dict[str, str]) -> list[list[float]]:
        """The model's probabilities summed onto the sample's labels (mass on a model label that maps to
        no sample label is left out; multi-label: the highest of the model labels mapping to each)."""
        columns = {label: j for j, label in enumerate(self.label_set)}
        combined = torch.zeros(probabilities.shape[0], len(self.label_set), dtype=torch.float32)
        for j, name in enumerate(names):
            target = columns.get(to_data.get(name, name))
            if target is None:
                continue
            column = probabilities[:, j].float()
            combined[:, target] = torch.maximum(combined[:, target], column) if self.multi_label else combined[:, target] + column
        return combined.tolist()


class TextClassification:
    name = "text-classification"
    head = "classifier"

    def prepare(self, loaded: LoadedModel, sample: LabeledSample, options: TaskOptions) -> ClassifierPredictor:
        mapping = map_labels(
            model_label_names(loaded), sample.label_set, overrides=options.label_map, by_index=options.label_index_mapping
        )
        problem_type = getattr(loaded.config, "problem_type", None)
        multi_label = sample.multi_label or problem_type == "multi_label_classification"
        return ClassifierPredictor(loaded, mapping, multi_label, list(sample.label_set), notes=mapping.notes())

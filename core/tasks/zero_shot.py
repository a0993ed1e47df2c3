"""`zero-shot-classification`: an NLI model scores "This example is {label}." for every label.

All (text, hypothesis) pairs of a run are batched together. Scoring follows transformers'
ZeroShotClassificationPipeline exactly, so predictions agree with it row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from core.dataset import LabeledSample
from core.errors import InputError, LabelMappingError
from core.kinds import entailment_index
from core.inference import classifier_logits, encode, run_batches
from core.loading import LoadedModel
from core.tasks.base import OnRows, Predictions, TaskOptions
from core.tasks.classification import MULTI_LABEL_THRESHOLD, model_label_names


def build_hypotheses(labels: list[str], template: str, descriptions: dict[str, str]) -> list[str]:
    if "{}" not in template:
        raise InputError(
            f"The hypothesis template {template!r} has no {{}} where the label goes.",
            hint="Write it like 'This example is {}.'",
        )
    # replace, not format: other braces in the template stay text instead of failing the trial
    return [template.replace("{}", descriptions.get(label, label)) for label in labels]


@dataclass
class ZeroShotPredictor:
    loaded: LoadedModel
    candidates: list[str]
    hypotheses: list[str]
    entailment_id: int
    multi_label: bool
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        per_text = len(self.hypotheses)
        premises = [text for text in texts for _ in range(per_text)]
        hypotheses = self.hypotheses * len(texts)
        encoded = encode(
            self.loaded.tokenizer, premises, hypotheses, max_length=self.loaded.max_length, truncation="only_first"
        )
        self.truncated_rows = encoded.truncated_rows // per_text
        report = (lambda pairs_done: on_rows(pairs_done / per_text)) if on_rows else None
        logits = run_batches(
            self.loaded.model, self.loaded.tokenizer, encoded, classifier_logits,
            batch_size=batch_size, device=self.loaded.device, on_rows=report,
        )
        return logits.reshape(len(texts), per_text, -1)

    def reserved_tokens(self) -> int:
        """Room a premise must leave for the longest hypothesis (for long texts cut to fit)."""
        return max(len(ids) for ids in self.loaded.tokenizer(self.hypotheses, add_special_tokens=False)["input_ids"])

    def finish(self, logits: torch.Tensor) -> Predictions:
        if self.multi_label or len(self.candidates) == 1:
            contradiction_id = -1 if self.entailment_id == 0 else 0
            pair_logits = logits[..., [contradiction_id, self.entailment_id]]
            scores = torch.softmax(pair_logits, dim=-1)[..., 1]
            labels = [
                tuple(c for c, s in zip(self.candidates, row) if s >= MULTI_LABEL_THRESHOLD) for row in scores.tolist()
            ]
            return Predictions(labels, scores.max(dim=-1).values.tolist(), list(self.notes), scores.tolist())
        scores = torch.softmax(logits[..., self.entailment_id], dim=-1)
        best = scores.argmax(dim=-1).tolist()
        return Predictions([(self.candidates[j],) for j in best], scores.max(dim=-1).values.tolist(), list(self.notes),
                           scores.tolist())


class ZeroShotClassification:
    name = "zero-shot-classification"
    head = "classifier"

    def prepare(self, loaded: LoadedModel, sample: LabeledSample, options: TaskOptions) -> ZeroShotPredictor:
        index = entailment_index(loaded.config.label2id)
        if index is None:
            raise LabelMappingError(
                f"{loaded.spec.source} is not an NLI model: its labels are {', '.join(model_label_names(loaded))}, "
                "and zero-shot needs an 'entailment' label.",
                hint="Evaluate it as text-classification, or pick an NLI model (e.g. one trained on MNLI).",
            )
        hypotheses = build_hypotheses(sample.label_set, options.hypothesis_template, options.label_descriptions)
        notes = ["The second text column is ignored: zero-shot pairs each text with a hypothesis."] if sample.pairs else []
        return ZeroShotPredictor(loaded, sample.label_set, hypotheses, index, sample.multi_label, notes=notes)

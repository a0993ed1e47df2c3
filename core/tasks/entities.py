"""`entities`: entities-then-classify. A token-classification (NER) model extracts each row's entities
with transformers' own pipeline (`aggregation_strategy="simple"`: words grouped, each with its type);
then either rules over them (a rules file, core.rules, matched against "TYPE: words; ..." text) or a
logistic regression over entity-type and type+word features, cross-validated like the baselines (no
row scored by a model fitted on it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from core.dataset import LabeledSample
from core.errors import ModelLoadError
from core.loading import LoadedModel
from core.rules import RuleMatcher, check_labels, rules_from_file_or_dict
from core.tasks.base import OnRows, Predictions, TaskOptions
from core.tasks.cross_validation import cross_validated, fold_count

ENTITY_KIND = "entities"


def entity_text(entities: list[dict]) -> str:
    """A row's entities as text, e.g. "ORG: acme corp; PER: jane" (what rules match, what the browser shows)."""
    return "; ".join(f"{e['entity_group']}: {e['word'].strip()}" for e in entities)


def entity_features(entities: list[dict]) -> str:
    """Tokens for the classifier: each entity's type, and its type joined to each of its words."""
    features = []
    for e in entities:
        kind = e["entity_group"].replace(" ", "_")
        features += [f"type={kind}", *[f"{kind}={word.lower()}" for word in e["word"].split()]]
    return " ".join(features)


@dataclass
class EntityPredictor:
    loaded: LoadedModel
    sample: LabeledSample
    options: TaskOptions
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from transformers import pipeline

        self.extract = pipeline("token-classification", model=self.loaded.model, tokenizer=self.loaded.tokenizer,
                                aggregation_strategy="simple", device=self.loaded.device)

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        found = []
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start: start + batch_size])
            found += self.extract(chunk, batch_size=batch_size)
            if on_rows:
                on_rows(len(chunk))
        return found

    def finish(self, found: list[list[dict]]) -> Predictions:
        started = time.perf_counter()
        predictions = self.classify(found)
        self.stages = {"classify_s": round(time.perf_counter() - started, 4)}  # extraction is the trial's latency
        return predictions

    def classify(self, found: list[list[dict]]) -> Predictions:
        self.entities = {row: entity_text(e) for row, e in enumerate(found) if e}
        empty = sum(1 for e in found if not e)
        note = f"The NER model found entities in {len(found) - empty} of {len(found)} rows."
        if self.options.rules:
            predictions = self.by_rules(found)
        else:
            estimator = make_pipeline(CountVectorizer(token_pattern=r"\S+", lowercase=False),
                                      LogisticRegression(max_iter=2000))
            predictions = cross_validated(estimator, [entity_features(e) or "type=none" for e in found], self.sample,
                                          self.options)
            predictions.notes.insert(0, "Classified by logistic regression over entity types and words.")
        predictions.notes.insert(0, note)
        return predictions

    def by_rules(self, found: list[list[dict]]) -> Predictions:
        from core.tasks.rules import RulesPredictor

        rules = rules_from_file_or_dict(self.options.rules)
        check_labels(rules, self.sample.label_set)
        predictor = RulesPredictor(RuleMatcher(rules), list(self.sample.label_set), self.sample.multi_label)
        texts = [entity_text(e) for e in found]
        predictions = predictor.finish(predictor.run(texts, None, batch_size=len(texts) or 1))
        predictions.notes.insert(0, f"Classified by the rules of {rules.name} over the entities.")
        return predictions


def check_token_classifier(loaded: LoadedModel) -> None:
    """A checkpoint saved as another architecture (a sequence classifier has a head of the same shape) is
    refused: its head was not trained to tag words."""
    architectures = getattr(loaded.config, "architectures", None) or []
    if architectures and not any(name.endswith("ForTokenClassification") for name in architectures):
        raise ModelLoadError(
            f"{loaded.spec.source} is a {architectures[0]}, not a token-classification (NER) model, so its tags "
            "would mean nothing.", hint="Name a model trained for token classification (NER) for --ner-model.")


class Entities:
    name = ENTITY_KIND
    head = "token-classifier"

    def prepare(self, loaded: LoadedModel, sample: LabeledSample, options: TaskOptions) -> EntityPredictor:
        check_token_classifier(loaded)
        if not options.rules:
            fold_count(sample, options.folds)  # the classifier is cross-validated
        return EntityPredictor(loaded, sample, options)

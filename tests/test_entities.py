"""Entities-then-classify: transformers' token-classification pipeline, then rules or a cross-validated classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline

from core.__main__ import main as cli
from core.dataset import load_csv
from core.results import read_json, validate
from core.runner import plan, run_plan
from core.settings import Settings
from core.tasks.cross_validation import stratified_splits
from core.tasks.entities import entity_features, entity_text
from tests import tiny_models

SETTINGS = Settings(bootstrap_resamples=50, latency_rows=4)
NER_LABELS = ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory):
    """A random BERT token classifier whose widened head gives clear tags (entities on some words)."""
    from transformers import BertForTokenClassification

    torch.manual_seed(4)
    tokenizer = tiny_models.build_tokenizer(tiny_models.corpus())
    config = tiny_models.tiny_config(len(tokenizer), num_labels=len(NER_LABELS), id2label=dict(enumerate(NER_LABELS)),
                                     label2id={l: i for i, l in enumerate(NER_LABELS)})
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight *= 20
    return tiny_models.save(model, tokenizer, tmp_path_factory.mktemp("ner") / "ner")


def pipeline_entities(folder, texts):
    from transformers import pipeline

    extract = pipeline("token-classification", model=str(folder), aggregation_strategy="simple", device="cpu")
    return [extract(text) for text in texts]


def test_entities_are_the_pipelines_and_the_classifier_is_cross_validated(ner_model, synthetic_csv):
    sample = load_csv(synthetic_csv)
    trial = run_plan(plan([], baselines=False, ner_models=[str(ner_model)]), sample, settings=SETTINGS).results[0]
    assert trial.ok and trial.kind == "entities", trial.error
    found = pipeline_entities(ner_model, sample.texts)
    assert trial.entities == {row: entity_text(e) for row, e in enumerate(found) if e}
    assert trial.entities, "the model tags some words"
    features = [entity_features(e) or "type=none" for e in found]
    expected = cross_val_predict(make_pipeline(CountVectorizer(token_pattern=r"\S+", lowercase=False),
                                               LogisticRegression(max_iter=2000)),
                                 features, np.array(sample.single_labels), cv=stratified_splits(sample, 5, SETTINGS.seed))
    assert [p.labels[0] for p in trial.predictions] == list(expected)
    assert trial.latency.p50_ms > 0 and trial.stages["classify_s"] > 0  # both stages timed


def test_entities_classified_by_a_rules_file_from_the_cli(ner_model, synthetic_csv, tmp_path):
    found = pipeline_entities(ner_model, load_csv(synthetic_csv).texts)
    kinds = sorted({e["entity_group"] for row in found for e in row})
    rules = tmp_path / "entity_rules.yaml"
    rules.write_text(f"labels:\n  bug: {{patterns: ['{kinds[0]}:']}}\nfallback: general_inquiry\n", encoding="utf-8")
    out = tmp_path / "r.json"
    assert cli(["evaluate", "--data", str(synthetic_csv), "--ner-model", str(ner_model), "--ner-rules", str(rules),
                "--no-baselines", "--out", str(out), "--quiet"]) == 0
    validate(json.loads(out.read_text()))
    trial = read_json(out).results[0]
    expected = [("bug",) if f"{kinds[0]}:" in entity_text(e) else ("general_inquiry",) for e in found]
    assert [p.labels for p in trial.predictions] == expected
    assert any("rules of entity_rules.yaml over the entities" in note for note in trial.notes)


def test_a_model_without_a_token_classification_head_is_a_sentence(encoder, synthetic_csv):
    run = run_plan(plan([], ner_models=[str(encoder)]), load_csv(synthetic_csv), settings=SETTINGS)
    assert run.results[0].status == "error"
    assert "has no trained token-classification (NER) head" in run.results[0].error
    assert "--ner-model" in run.results[0].error
    assert all(t.ok for t in run.results[1:])

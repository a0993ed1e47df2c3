"""Evaluation kinds, cross-checked row for row against transformers pipelines and scikit-learn."""

import numpy as np
import pytest
import torch
from transformers import pipeline

from core.dataset import load_csv
from core.errors import InputError, LabelMappingError
from core.loading import ModelSpec, load_model
from core.runner import TrialSpec, run_trial
from core.kinds import choose_kinds
from core.tasks import get_kind
from core.tasks.base import TaskOptions
from core.tasks.labels import map_labels
from tests import tiny_models


def predict(kind_name, folder, sample, options=TaskOptions(), **load):
    kind = get_kind(kind_name)
    loaded = load_model(ModelSpec(str(folder)), head=kind.head, **load)
    predictor = kind.prepare(loaded, sample, options)
    return predictor, predictor.finish(predictor.run(sample.texts, sample.pairs, batch_size=options.batch_size))


def test_label_mapping_rules():
    mapping = map_labels(["POSITIVE", "Feature Request", "LABEL_2", "neu", "other"], ["feature_request", "neutral", "pos", "spam"])
    assert mapping.model_to_data == {"POSITIVE": "pos", "Feature Request": "feature_request", "neu": "neutral"}
    assert mapping.how == {"POSITIVE": "synonym", "Feature Request": "normalized", "neu": "synonym"}
    assert mapping.unmapped_model == ["LABEL_2", "other"] and mapping.unmapped_data == ["spam"]
    by_index = map_labels(["LABEL_0", "LABEL_1"], ["a", "b"], by_index=True)
    assert by_index.model_to_data == {"LABEL_0": "a", "LABEL_1": "b"}
    overridden = map_labels(["LABEL_0", "LABEL_1"], ["a", "b"], overrides={"LABEL_1": "a"})
    assert overridden.model_to_data == {"LABEL_1": "a"} and overridden.how == {"LABEL_1": "override"}


def test_unmappable_labels_say_what_to_map():
    with pytest.raises(LabelMappingError) as error:
        map_labels(["LABEL_0", "LABEL_1"], ["bug", "feature_request"])
    assert "None of the model's labels (LABEL_0, LABEL_1) match the sample's labels (bug, feature_request)" in error.value.sentence
    assert "--label-map" in error.value.sentence
    with pytest.raises(LabelMappingError, match="sample label 'nope', which is not in the sample"):
        map_labels(["LABEL_0"], ["bug"], overrides={"LABEL_0": "nope"})
    with pytest.raises(LabelMappingError, match="model label 'X', which the model does not have"):
        map_labels(["LABEL_0"], ["bug"], overrides={"X": "bug"})


def test_classifier_matches_pipeline_row_for_row(untrained_classifier, synthetic_csv):
    sample = load_csv(synthetic_csv)
    options = TaskOptions(batch_size=7, label_map={"NEGATIVE": "bug", "POSITIVE": "feature_request", "neutral": "general_inquiry"})
    predictor, predictions = predict("text-classification", untrained_classifier, sample, options)
    reference = pipeline("text-classification", model=str(untrained_classifier), device="cpu")
    expected = reference(sample.texts, truncation=True, batch_size=1)
    to_data = options.label_map
    assert [row[0] for row in predictions.labels] == [to_data[e["label"]] for e in expected]
    assert predictions.scores == pytest.approx([e["score"] for e in expected], abs=1e-4)


def test_classifier_with_unmapped_labels_is_an_error_row(untrained_classifier, synthetic_csv):
    sample = load_csv(synthetic_csv)
    result = run_trial(TrialSpec(kind="text-classification", model=str(untrained_classifier)), sample)
    assert result.status == "error" and result.metrics is None
    assert "None of the model's labels (NEGATIVE, POSITIVE, neutral) match" in result.error


@pytest.mark.parametrize("entailment_index", [0, 2])
@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_matches_pipeline_row_for_row(tmp_path, synthetic_rows, entailment_index, multi_label):
    folder = tiny_models.build_nli(tmp_path / "nli", entailment_index=entailment_index, seed=entailment_index)
    rows = [(text, "bug;general_inquiry" if multi_label and label == "bug" else label) for text, label in synthetic_rows]
    sample = load_csv(tiny_models.write_csv(tmp_path / "s.csv", rows), label_sep=";" if multi_label else None)
    assert sample.multi_label == multi_label
    template = "this is about {} ."
    _, predictions = predict("zero-shot-classification", folder, sample, TaskOptions(batch_size=16, hypothesis_template=template))
    reference = pipeline("zero-shot-classification", model=str(folder), device="cpu")
    expected = reference(sample.texts, candidate_labels=sample.label_set, hypothesis_template=template, multi_label=multi_label)
    for got, want in zip(predictions.labels, expected):
        scores = dict(zip(want["labels"], want["scores"]))
        if multi_label:
            assert set(got) == {label for label, score in scores.items() if score >= 0.5}
        else:
            assert got == (want["labels"][0],)
    best = [max(e["scores"]) for e in expected]
    assert predictions.scores == pytest.approx(best, abs=1e-4)


def test_zero_shot_refuses_a_model_without_entailment(untrained_classifier, synthetic_csv):
    sample = load_csv(synthetic_csv)
    with pytest.raises(LabelMappingError, match="is not an NLI model: its labels are NEGATIVE, POSITIVE, neutral"):
        predict("zero-shot-classification", untrained_classifier, sample)


def test_hypothesis_template_needs_a_slot(nli_model, synthetic_csv):
    with pytest.raises(InputError, match="has no {} where the label goes"):
        predict("zero-shot-classification", nli_model, load_csv(synthetic_csv), TaskOptions(hypothesis_template="About it."))


def test_label_descriptions_replace_label_names(nli_model, synthetic_csv):
    sample = load_csv(synthetic_csv)
    options = TaskOptions(label_descriptions={"bug": "a software defect"})
    predictor, _ = predict("zero-shot-classification", nli_model, sample, options)
    assert predictor.hypotheses[0] == "This example is a software defect."
    assert predictor.hypotheses[1] == "This example is feature_request."


def test_truncated_rows_are_counted(untrained_classifier):
    long_text = " ".join(["crash"] * 100)
    sample = load_csv(f"text,label\n{long_text},NEGATIVE\nshort crash,POSITIVE\n".encode())
    predictor, _ = predict("text-classification", untrained_classifier, sample)
    assert predictor.truncated_rows == 1


def test_minilm_probe_on_shipped_sample_beats_baselines(minilm, example_csv):
    sample = load_csv(example_csv)
    probe = run_trial(TrialSpec(kind="embedding-probe", model=str(minilm)), sample)
    majority = run_trial(TrialSpec(kind="baseline-majority", dtype="n/a"), sample)
    assert probe.ok and majority.ok
    assert probe.metrics.accuracy > 0.85 and probe.metrics.accuracy > majority.metrics.accuracy + 0.4
    largest = max(sample.label_counts.values())
    assert majority.metrics.accuracy == pytest.approx(largest / len(sample))
    assert probe.parameters == 22_713_216 and probe.settings["max_length"] == 512


def test_mean_pooled_embeddings_match_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    from core.inference import encode, run_batches
    from core.pooling import Pooling, pooled_forward

    texts = ["The export crashes every time.", "Please add dark mode", "What are your office hours on Friday?"]
    loaded = load_model(ModelSpec(str(minilm)), head="encoder")
    ours = run_batches(loaded.model, loaded.tokenizer, encode(loaded.tokenizer, texts, max_length=256), pooled_forward(Pooling()), batch_size=2, device="cpu")
    theirs = SentenceTransformer(str(minilm), device="cpu").encode(texts, convert_to_tensor=True)
    cosine = torch.nn.functional.cosine_similarity(ours, theirs.float())
    assert cosine.min().item() > 0.9999


def test_auto_picks_kind_from_config():
    nli = {"architectures": ["BertForSequenceClassification"], "label2id": {"ENTAILMENT": 0, "NEUTRAL": 1}}
    classifier = {"architectures": ["BertForSequenceClassification"], "label2id": {"POSITIVE": 0}}
    encoder = {"architectures": ["BertModel"]}
    assert choose_kinds(nli, None, ["a"]).auto == "zero-shot-classification"
    assert choose_kinds(nli, None, ["entailment", "neutral"]).auto == "text-classification"
    assert choose_kinds(classifier, None, ["a"]).auto == "text-classification"
    assert choose_kinds(encoder, None, ["a"]).auto == "embedding-probe"


@pytest.mark.parametrize(
    "config, tag, fits, auto",
    [
        # a classification head tagged feature-extraction: the head is what loads, so it is a classifier
        ({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "bug", "1": "other"}}, "feature-extraction",
         ("text-classification", "embedding-probe"), "text-classification"),
        # 'entails' is an entailment class, as transformers' zero-shot pipeline reads it
        ({"architectures": ["RobertaForSequenceClassification"], "id2label": {"0": "entails", "1": "neutral"}}, "text-classification",
         ("zero-shot-classification", "embedding-probe"), "zero-shot-classification"),
        # a bare encoder tagged text-classification would load a random head: it is probed
        ({"architectures": ["BertModel"]}, "text-classification", ("embedding-probe",), "embedding-probe"),
        # config unknown (a search result): the tag decides
        (None, "zero-shot-classification", ("zero-shot-classification", "embedding-probe"), "zero-shot-classification"),
        (None, "text-generation", (), None),
    ],
)
def test_one_rule_decides_fits_and_auto(config, tag, fits, auto):
    from core import hub

    choice = choose_kinds(config, tag)
    assert choice.fits == fits and choice.auto == auto
    assert tuple(hub.kinds_for(tag, config)) == fits  # what Discover shows
    assert auto is None or auto == fits[0]


def test_unknown_kind_lists_valid_ones():
    with pytest.raises(InputError, match="Valid kinds: auto, text-classification, zero-shot-classification, embedding-probe"):
        get_kind("summarization")


def test_batching_does_not_change_classifier_outputs(trained_classifier, synthetic_csv):
    sample = load_csv(synthetic_csv)
    _, one = predict("text-classification", trained_classifier, sample, TaskOptions(batch_size=1))
    _, many = predict("text-classification", trained_classifier, sample, TaskOptions(batch_size=64))
    assert one.labels == many.labels
    assert np.allclose(one.scores, many.scores, atol=1e-5)


def test_a_template_with_other_braces_keeps_them_as_text():
    from core.tasks.zero_shot import build_hypotheses

    hypotheses = build_hypotheses(["bug", "feature_request"], "{} (json: {x}) {}", {"bug": "a broken thing"})
    assert hypotheses == ["a broken thing (json: {x}) a broken thing", "feature_request (json: {x}) feature_request"]

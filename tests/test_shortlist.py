"""The shortlist, label-map suggestions, trial planning, sample checks and the Hub status line."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from core import hub, hub_status
from core import settings as names
from core.dataset import load_csv
from core.errors import InputError
from core.paths import EXAMPLE_SAMPLE
from core.runner import NO_DTYPE
from core.sample_checks import IMBALANCE_RATIO, balance_warnings, check_lengths
from core.settings import get_settings
from core.shortlist import (
    LabelMapRow, PlanChoices, Shortlist, ShortlistEntry, label_map_overrides, plan_trials, resolve_source,
    suggest_label_map, unmapped_sample_labels, with_labels,
)
from core.tasks.labels import LEFT_UNMAPPED, map_labels
from tests.fakehub import FakeHub, repo_from_folder
from tests.hub_fixtures import TICKET_LABELS, build_classifier, guard_network
from tests.tiny_models import write_csv

SAMPLE_LABELS = ["bug", "feature_request", "general_inquiry"]


def candidate(labels=None, kinds=("text-classification",), source="org/model") -> hub.ModelCandidate:
    return hub.ModelCandidate(source, labels=tuple(labels) if labels else None, kinds=tuple(kinds))


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    refused = guard_network(monkeypatch)
    folder = build_classifier(tmp_path / "classifier", TICKET_LABELS)
    with FakeHub({"acme/ticket-classifier": repo_from_folder(folder, "acme/ticket-classifier")}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setenv(names.HUB_TIMEOUT_S, "3")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        hub.clear_search_cache()
        hub_status.forget()
        yield server
    hub_status.forget()
    assert not refused


# -- shortlist and label maps -----------------------------------------------------------------


def test_adding_twice_keeps_one_entry_with_the_suggested_kind():
    shortlist = Shortlist()
    assert shortlist.add(candidate(kinds=("zero-shot-classification", "embedding-probe")))
    assert not shortlist.add(candidate())
    assert [(e.source, e.kind) for e in shortlist.entries] == [("org/model", "zero-shot-classification")]
    shortlist.update("org/model", kind="embedding-probe")
    assert shortlist.entries[0].kind == "embedding-probe"
    shortlist.remove("org/model")
    assert shortlist.entries == []


def test_label_map_suggestion_matches_case_and_synonyms_and_keeps_overrides():
    entry = ShortlistEntry(candidate(["BUG", "Feature-Request", "other"]), "text-classification")
    rows = suggest_label_map(entry, SAMPLE_LABELS)
    assert [(r.model_label, r.sample_label, r.how) for r in rows] == [
        ("BUG", "bug", "normalized"), ("Feature-Request", "feature_request", "normalized"), ("other", None, ""),
    ]
    assert unmapped_sample_labels(rows, SAMPLE_LABELS) == ["general_inquiry"]
    overridden = ShortlistEntry(entry.candidate, entry.kind, label_map={"other": "general_inquiry"})
    rows = suggest_label_map(overridden, SAMPLE_LABELS)
    assert rows[2] == LabelMapRow("other", "general_inquiry", "override")
    automatic = suggest_label_map(entry, SAMPLE_LABELS)
    assert label_map_overrides(rows, automatic) == {"other": "general_inquiry"}  # only what the user changed


def test_a_label_the_user_leaves_unmapped_stays_unmapped_when_it_runs():
    entry = ShortlistEntry(candidate(["BUG", "Feature-Request", "other"]), "text-classification")
    automatic = suggest_label_map(entry, SAMPLE_LABELS)
    chosen = [LabelMapRow("BUG", None, "user"), *automatic[1:]]  # the user clears BUG's sample label
    overrides = label_map_overrides(chosen, automatic)
    assert overrides == {"BUG": LEFT_UNMAPPED}
    shown = suggest_label_map(ShortlistEntry(entry.candidate, entry.kind, label_map=overrides), SAMPLE_LABELS)
    assert shown[0] == LabelMapRow("BUG", None, "override")
    mapping = map_labels(["BUG", "Feature-Request", "other"], SAMPLE_LABELS, overrides=overrides)  # what the trial runs
    assert mapping.model_to_data == {"Feature-Request": "feature_request"}
    assert mapping.unmapped_model == ["BUG", "other"]


def test_switching_index_mapping_off_drops_its_matches():
    entry = ShortlistEntry(candidate(["LABEL_0", "LABEL_1"]), "text-classification", label_index_mapping=True)
    automatic = suggest_label_map(entry, SAMPLE_LABELS)
    assert label_map_overrides(automatic, automatic) == {}  # accepted as suggested: nothing pinned
    switched_off = ShortlistEntry(entry.candidate, entry.kind, label_map={}, label_index_mapping=False)
    assert [r.sample_label for r in suggest_label_map(switched_off, SAMPLE_LABELS)] == [None, None]


def test_unmappable_labels_are_all_shown_unmapped_and_kinds_without_labels_get_no_table():
    entry = ShortlistEntry(candidate(["LABEL_0", "LABEL_1"]), "text-classification")
    assert [r.sample_label for r in suggest_label_map(entry, SAMPLE_LABELS)] == [None, None]
    by_index = ShortlistEntry(entry.candidate, entry.kind, label_index_mapping=True)
    assert [r.sample_label for r in suggest_label_map(by_index, SAMPLE_LABELS)] == ["bug", "feature_request"]
    assert suggest_label_map(ShortlistEntry(entry.candidate, "zero-shot-classification"), SAMPLE_LABELS) == []


def test_plan_has_one_trial_per_model_device_and_dtype_then_the_baselines():
    entries = [ShortlistEntry(candidate(source="a/one"), "text-classification", label_map={"x": "bug"}),
               ShortlistEntry(candidate(source="b/two"), "zero-shot-classification", hypothesis_template="About {}.")]
    choices = PlanChoices(devices=("cpu",), dtypes=("float32", "int8"), batch_size=8, max_length=128,
                          label_descriptions={"bug": "something broken"})
    specs = plan_trials(entries, choices)
    assert [(s.model, s.dtype) for s in specs[:4]] == [("a/one", "float32"), ("a/one", "int8"), ("b/two", "float32"),
                                                        ("b/two", "int8")]
    assert [s.kind for s in specs[4:]] == ["baseline-majority", "baseline-tfidf"] and specs[4].dtype == NO_DTYPE
    assert specs[0].label_map == {"x": "bug"} and specs[0].label_descriptions == {}
    assert specs[2].hypothesis_template == "About {}." and specs[2].label_descriptions == {"bug": "something broken"}
    assert {s.batch_size for s in specs[:4]} == {8} and {s.max_length for s in specs[:4]} == {128}


@pytest.mark.parametrize("entries, choices, message", [
    ([], PlanChoices(), "The shortlist is empty and there are no rules."),
    ([ShortlistEntry(candidate(), "embedding-probe")], PlanChoices(folds=1), "cannot cross-validate"),
    ([ShortlistEntry(candidate(), "text-classification")], PlanChoices(devices=()), "No device or no dtype"),
    ([ShortlistEntry(candidate(), "text-classification")], PlanChoices(batch_size=0), "Batch size 0 is not positive."),
    ([ShortlistEntry(candidate(), "zero-shot-classification", hypothesis_template="no slot")], PlanChoices(),
     "has no '{}' for the label"),
])
def test_a_plan_that_cannot_run_is_refused_with_a_sentence(entries, choices, message):
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        plan_trials(entries, choices)


def test_a_typed_folder_becomes_a_local_candidate_and_a_bad_name_is_explained(tmp_path):
    folder = build_classifier(tmp_path / "mine", TICKET_LABELS)
    found, note = resolve_source(str(folder))
    assert (found.origin, found.local_path, found.labels, note) == ("folder", str(folder.resolve()), tuple(TICKET_LABELS), "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no config.json"):
        resolve_source(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="neither a model folder on this server nor a Hub id"):
        resolve_source("a/b/c")


def test_with_model_dirs_set_only_folders_inside_them_can_be_typed(tmp_path, monkeypatch):
    offered = build_classifier(tmp_path / "offered" / "mine", TICKET_LABELS)
    private = build_classifier(tmp_path / "private" / "theirs", TICKET_LABELS)
    monkeypatch.setenv(names.MODEL_DIRS, str(tmp_path / "offered"))
    assert resolve_source(str(offered))[0].local_path == str(offered.resolve())
    refusals = []
    for typed in (str(private), str(tmp_path / "private" / "nothing-here"), str(offered / ".." / ".." / "private" / "theirs")):
        with pytest.raises(InputError) as refused:
            resolve_source(typed)
        refusals.append(refused.value.sentence.replace(typed, "PATH"))
    assert len(set(refusals)) == 1 and "MSD_MODEL_DIRS" in refusals[0]  # the same words whether it exists or not


def test_a_typed_hub_id_is_looked_up_and_accepted_with_a_note_when_the_hub_is_down(fake_hub, monkeypatch):
    found, note = resolve_source("acme/ticket-classifier")
    assert found.labels == tuple(TICKET_LABELS) and note == ""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    found, note = resolve_source("acme/other-model")
    assert found.id == "acme/other-model" and found.labels is None
    assert "could not be reached" in note and note.endswith("Added anyway; its kind is picked when it runs.")


def test_search_results_get_their_labels_from_config_json(fake_hub):
    listed = hub.search("text-classification", include_local=False).candidates[0]
    assert listed.labels is None  # the search listing has no config
    assert with_labels(listed).labels == tuple(TICKET_LABELS)


# -- sample checks ---------------------------------------------------------------------------------


def test_imbalance_and_small_classes_are_named(tmp_path):
    rows = [(f"ticket {i}", "bug") for i in range(110)] + [(f"ask {i}", "question") for i in range(10)]
    sample = load_csv(write_csv(tmp_path / "skewed.csv", rows))
    notes = balance_warnings(sample)
    assert notes[0].startswith("1 label(s) have fewer than 20 rows (question)")
    assert 110 / 10 > IMBALANCE_RATIO and "(110 vs 10 rows)" in notes[1] and "92% accuracy" in notes[1]
    assert balance_warnings(load_csv(EXAMPLE_SAMPLE)) == []


def test_long_rows_are_counted_with_the_models_own_tokenizer(tmp_path):
    folder = build_classifier(tmp_path / "short", TICKET_LABELS)  # 64 positions
    sample = load_csv(EXAMPLE_SAMPLE)
    local = hub.candidate_from_folder(folder, model_id="short", origin="folder")
    checks = check_lengths(sample, [local, candidate()])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    expected = sum(len(ids) > 64 for ids in tokenizer(sample.texts)["input_ids"])
    assert (checks[0].max_length, checks[0].long_rows) == (64, expected) and expected > 0
    assert checks[1].long_rows is None and "not on this server yet" in checks[1].reason


# -- hub status ------------------------------------------------------------------------------------


def test_hub_status_says_mirror_offline_and_is_remembered(fake_hub, monkeypatch):
    status = hub_status.hub_status()
    assert (status.state, status.endpoint) == (hub_status.MIRROR, fake_hub.url)
    asked = len(fake_hub.requests)
    assert hub_status.hub_status() == status and len(fake_hub.requests) == asked  # served from memory
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = hub_status.hub_status()
    assert offline.state == hub_status.OFFLINE and "HF_HUB_OFFLINE" in offline.sentence
    assert get_settings().hub_offline


def test_each_long_text_strategy_is_a_trial_except_for_fine_tuning():
    entries = [ShortlistEntry(candidate(), "text-classification"), ShortlistEntry(candidate(), "fine-tune")]
    specs = plan_trials(entries, PlanChoices(long_texts=("truncate", "chunks"), baselines=False))
    assert [(s.kind, s.long_text) for s in specs] == [("text-classification", "truncate"),
                                                     ("text-classification", "chunks"), ("fine-tune", "truncate")]


def test_two_stage_choices_add_summarized_and_entity_trials():
    entries = [ShortlistEntry(candidate(), "text-classification")]
    specs = plan_trials(entries, PlanChoices(summarizer="org/bart-sum", ner_models=("org/ner",), baselines=False))
    assert [(s.kind, s.model, s.summarizer) for s in specs] == [
        ("text-classification", "org/model", None), ("text-classification", "org/model", "org/bart-sum"),
        ("entities", "org/ner", None)]
    assert plan_trials([], PlanChoices(ner_models=("org/ner",), baselines=False))[0].kind == "entities"

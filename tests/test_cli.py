"""`python -m core evaluate` end to end, in a subprocess, as users and CI pipelines run it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, f1_score

from core.dataset import load_csv
from core.results import read_json, run_to_dict, validate

ROOT = Path(__file__).resolve().parent.parent


def evaluate(*args, cwd=ROOT):
    env = dict(os.environ, MSD_BOOTSTRAP_RESAMPLES="200", MSD_LATENCY_ROWS="8")
    return subprocess.run(
        [sys.executable, "-m", "core", "evaluate", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, synthetic_csv, trained_classifier, nli_model, encoder):
    out = tmp_path_factory.mktemp("run") / "results.json"
    missing = "/nonexistent/model-folder"
    done = evaluate(
        "--data", synthetic_csv, "--model", trained_classifier, "--model", nli_model, "--model", encoder,
        "--model", missing, "--batch-size", 8, "--out", out,
    )
    return done, out


def test_run_writes_a_valid_results_file(full_run):
    done, out = full_run
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    validate(data)
    assert run_to_dict(read_json(out)) == data, "reading the file back gives the same results"
    kinds = [(r["kind"], r["status"]) for r in data["results"]]
    assert kinds == [
        ("text-classification", "ok"), ("zero-shot-classification", "ok"), ("embedding-probe", "ok"),
        ("auto", "error"), ("baseline-majority", "ok"), ("baseline-tfidf", "ok"),
    ]
    assert data["command"].startswith("python -m core evaluate --data")
    assert data["environment"]["libraries"]["torch"].startswith("2.13.0")


def test_trained_classifier_scores_high_and_metrics_match_sklearn(full_run, synthetic_csv):
    _, out = full_run
    sample = load_csv(synthetic_csv)
    data = json.loads(out.read_text())
    assert data["dataset"]["sha256"] == sample.sha256 and data["dataset"]["rows"] == len(sample)
    for trial in (t for t in data["results"] if t["status"] == "ok"):
        predicted = [p["labels"][0] for p in trial["predictions"]]
        assert [p["row"] for p in trial["predictions"]] == list(range(len(sample)))
        metrics = trial["metrics"]
        assert metrics["accuracy"] == pytest.approx(accuracy_score(sample.single_labels, predicted))
        assert metrics["macro_f1"] == pytest.approx(
            f1_score(sample.single_labels, predicted, labels=sample.label_set, average="macro", zero_division=0)
        )
        assert metrics["accuracy_ci"][0] <= metrics["accuracy"] <= metrics["accuracy_ci"][1]
        assert trial["latency"]["rows_timed"] == 8 and trial["latency"]["p50_ms"] <= trial["latency"]["p95_ms"]
    classifier = data["results"][0]
    assert classifier["metrics"]["accuracy"] >= 0.95
    assert classifier["parameters"] > 0 and classifier["load_s"] > 0 and classifier["settings"]["batch_size"] == 8


def test_missing_model_is_an_error_row_and_the_table_says_so(full_run):
    done, out = full_run
    error = json.loads(out.read_text())["results"][3]
    assert error["model"] == "/nonexistent/model-folder" and error["metrics"] is None
    assert "was not found on the Hub" in error["error"] or "could not be reached" in error["error"]
    assert "error: " in done.stdout and "text-classification" in done.stdout and "wrote " in done.stdout


def test_progress_is_shown_on_stderr(full_run):
    done, _ = full_run
    assert "[1/6]" in done.stderr and "rows" in done.stderr


def test_bad_input_exits_2_with_a_sentence(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("body,kind\nx,y\n")
    done = evaluate("--data", bad, "--model", "whatever", "--out", tmp_path / "r.json")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: No label column could be guessed; columns are: body, kind.")
    assert not (tmp_path / "r.json").exists()


def test_all_trials_failing_exits_1(tmp_path, synthetic_csv, untrained_classifier):
    out = tmp_path / "r.json"
    done = evaluate("--data", synthetic_csv, "--model", untrained_classifier, "--no-baselines", "--kind", "text-classification", "--out", out, "--quiet")
    assert done.returncode == 1
    assert json.loads(out.read_text())["results"][0]["status"] == "error"


def test_label_map_option_is_parsed_and_used(tmp_path, synthetic_csv, untrained_classifier):
    out = tmp_path / "r.json"
    done = evaluate(
        "--data", synthetic_csv, "--model", untrained_classifier, "--no-baselines", "--quiet", "--out", out,
        "--label-map", "NEGATIVE=bug", "--label-map", "POSITIVE=feature_request",
    )
    assert done.returncode == 0, done.stderr
    trial = json.loads(out.read_text())["results"][0]
    assert trial["status"] == "ok"
    assert any("Model labels with no sample label" in note and "neutral" in note for note in trial["notes"])
    malformed = evaluate("--data", synthetic_csv, "--model", untrained_classifier, "--label-map", "oops", "--out", out)
    assert malformed.returncode == 2 and "--label-map 'oops' is not of the form KEY=VALUE" in malformed.stderr


def test_device_that_is_missing_fails_only_its_trial(tmp_path, synthetic_csv, trained_classifier):
    out = tmp_path / "r.json"
    done = evaluate(
        "--data", synthetic_csv, "--model", trained_classifier, "--device", "cpu", "--device", "cuda:7",
        "--dtype", "float32", "--dtype", "int8", "--no-baselines", "--quiet", "--out", out,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())["results"]
    by_key = {(r["device"], r["dtype"]): r for r in results}
    assert by_key[("cpu", "float32")]["status"] == "ok" and by_key[("cpu", "int8")]["status"] == "ok"
    assert "'cuda:7' is not available on this machine" in by_key[("cuda:7", "float32")]["error"]
    agreement = sum(
        a["labels"] == b["labels"]
        for a, b in zip(by_key[("cpu", "float32")]["predictions"], by_key[("cpu", "int8")]["predictions"])
    ) / len(results[0]["predictions"])
    assert agreement >= 0.9, "int8 mostly agrees with float32 on a trained model"


@pytest.mark.parametrize("case", ["a folder", "under a file"])
def test_an_out_path_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, synthetic_csv, trained_classifier, case):
    """Audit item 5: `--out` was written only after the whole evaluation, losing every result."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    out = tmp_path if case == "a folder" else blocker / "results.json"
    done = evaluate("--data", synthetic_csv, "--model", trained_classifier, "--out", out, "--quiet")
    assert done.returncode == 2
    expected = "is a folder, not a file." if case == "a folder" else f"cannot be written: {blocker} is a file, not a folder."
    assert expected in done.stderr.strip().splitlines()[-1]
    assert "text-classification" not in done.stdout, "nothing was evaluated"


def test_a_full_disk_at_the_end_keeps_the_results_elsewhere_and_the_last_good_file_whole(tmp_path, synthetic_csv, monkeypatch, capsys):
    """Audit item 5: a full disk lost every result and left a truncated JSON where the old one was."""
    import errno

    import core.files
    from core.__main__ import main as cli

    monkeypatch.setenv("MSD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MSD_BOOTSTRAP_RESAMPLES", "100")
    out_dir = tmp_path / "full-disk"
    out_dir.mkdir()
    out = out_dir / "results.json"
    out.write_text('{"the": "last good results"}')
    real_replace = core.files.os.replace

    def disk_full_in(folder):
        def replace(source, target):
            if Path(target).parent == folder:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_replace(source, target)
        return replace

    monkeypatch.setattr(core.files.os, "replace", disk_full_in(out_dir))
    assert cli(["evaluate", "--data", str(synthetic_csv), "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {out} could not be written (No space left on device); they were saved to ")
    kept = Path(error.split("saved to ")[1].split(" instead")[0])
    assert kept.parent == tmp_path / "data" / "unsaved"
    validate(json.loads(kept.read_text()))
    assert [r.kind for r in read_json(kept).results] == ["baseline-majority", "baseline-tfidf"]
    assert out.read_text() == '{"the": "last good results"}', "the old file is untouched, not half overwritten"
    assert sorted(p.name for p in out_dir.iterdir()) == ["results.json"], "no temporary file is left behind"


def test_ctrl_c_mid_trial_leaves_no_results_file_and_no_partial_file(tmp_path, trained_classifier, synthetic_csv):
    """Audit, handled but untested: Ctrl-C during a trial leaves nothing half written."""
    import signal
    import threading
    import time

    data = tmp_path / "many.csv"
    header, *rows = synthetic_csv.read_text().splitlines(keepends=True)
    data.write_text(header + "".join(rows * (20_000 // len(rows))))  # the tiny model's vocabulary
    out = tmp_path / "out" / "results.json"
    env = dict(os.environ, MSD_BOOTSTRAP_RESAMPLES="100", MSD_LATENCY_ROWS="4")
    process = subprocess.Popen([sys.executable, "-m", "core", "evaluate", "--data", str(data), "--model", str(trained_classifier),
                                "--no-baselines", "--batch-size", "4", "--out", str(out)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said = []  # tqdm redraws with \r: read chunks, not lines
    reader = threading.Thread(target=lambda: said.extend(c.decode() for c in iter(lambda: os.read(process.stderr.fileno(), 4096), b"")),
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    while "predicting" not in "".join(said) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "predicting" in "".join(said), "the trial was running"
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130
    reader.join(10)
    assert "interrupted: files are written only whole" in "".join(said)
    assert "Traceback" not in "".join(said)
    assert not out.exists() and (not out.parent.exists() or list(out.parent.iterdir()) == [])


@pytest.mark.parametrize("setting, value, sentence", [
    ("MSD_MAX_ROWS", "abc", "error: The setting MSD_MAX_ROWS='abc' is not a whole number. Unset it, or give e.g. MSD_MAX_ROWS=20000."),
    ("MSD_HUB_TIMEOUT_S", "soon", "error: The setting MSD_HUB_TIMEOUT_S='soon' is not a number. Unset it, or give e.g. MSD_HUB_TIMEOUT_S=10.0."),
])
def test_a_bad_setting_exits_2_with_one_sentence_and_no_traceback(tmp_path, synthetic_csv, setting, value, sentence):
    """Structure issue: `MSD_MAX_ROWS=abc python -m core evaluate` printed a traceback and exited 1."""
    env = dict(os.environ, **{setting: value})
    done = subprocess.run([sys.executable, "-m", "core", "evaluate", "--data", str(synthetic_csv), "--out", str(tmp_path / "r.json")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [sentence]


def test_a_run_id_that_does_not_exist_exits_2_with_a_sentence(tmp_path):
    env = dict(os.environ, MSD_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-m", "core", "runs", "show", "0" * 32], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: There is no run '{'0' * 32}' in the store.")

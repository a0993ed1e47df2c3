"""Racing (core.racing, core.race_job): the statistics on synthetic streams, and a real race of tiny models."""

import json

import numpy as np
import pytest
from scipy import stats
from scipy.stats import norm
from sklearn.metrics import accuracy_score

from core.__main__ import main as cli
from core.dataset import load_csv
from core.metrics import holm
from core.racing import RaceSettings, decide_stops, mcnemar_worse, round_sizes, run_race
from core.results import read_json
from tests import tiny_models

#: The issue's scenario: 10 candidates on 500 rows, one best, one close to it, most 10 points worse.
ACCURACIES = [0.85, 0.82] + [0.75] * 8
ROWS = 500


def synthetic_streams(accuracies: list[float], rows: int, *, correlation: float, seed: int) -> dict[str, np.ndarray]:
    """Per-row correctness with known accuracies. Models share which rows are hard (a latent difficulty
    per row, weight `correlation`), as real models on one sample do; 0 makes them independent."""
    rng = np.random.default_rng(seed)
    difficulty = rng.standard_normal(rows)
    noise = np.sqrt(1 - correlation**2)
    return {f"m{k}": correlation * difficulty + noise * rng.standard_normal(rows) < norm.ppf(accuracy)
            for k, accuracy in enumerate(accuracies)}


def race_streams(streams: dict[str, np.ndarray], seed: int):
    return run_race(list(streams), ROWS, RaceSettings(seed=seed), lambda key, rows: streams[key][rows])


def test_round_sizes_grow_to_all_rows():
    assert round_sizes(500, RaceSettings()) == [50, 75, 112, 168, 252, 378, 500]
    assert round_sizes(120, RaceSettings(first_rows=50, growth=2)) == [50, 100, 120]
    assert round_sizes(40, RaceSettings()) == [40]


def test_the_one_sided_exact_mcnemar_and_holm_match_scipy():
    leader = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    other = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1], dtype=bool)
    only_leader, only_other, p = mcnemar_worse(leader, other)
    assert (only_leader, only_other) == (5, 1)
    assert p == pytest.approx(stats.binomtest(5, 6, 0.5, alternative="greater").pvalue)  # 7/64
    correct = {"a": np.ones(60, bool), "b": np.arange(60) % 4 != 0, "c": np.arange(60) % 20 != 0}
    stops = decide_stops(correct, alpha=0.05)
    raw = [mcnemar_worse(correct["a"], correct[k])[2] for k in ("b", "c")]
    assert [s.key for s in stops] == ["b"]  # c: 3 rows worse is not enough
    assert stops[0].p_holm == pytest.approx(holm(raw)[0]) and stops[0].leader == "a" and stops[0].rows == 60
    assert decide_stops(correct, alpha=0.05, protected={"b"}) == []


def test_racing_keeps_the_true_best_and_saves_half_the_model_rows():
    """Seeded runs of the issue's scenario: the true best survives in >= 95% of them, and racing
    scores at most half the model-rows of running everything on all rows."""
    kept, saved = 0, []
    for seed in range(100):
        record = race_streams(synthetic_streams(ACCURACIES, ROWS, correlation=0.7, seed=seed), seed)
        kept += "m0" in record.survivors
        saved.append(record.saved_share)
    assert kept >= 95
    assert np.mean(saved) >= 0.5


def test_independent_streams_still_keep_the_best():
    """Uncorrelated errors are the hardest case for the paired test: fewer stops, never the best."""
    kept = sum("m0" in race_streams(synthetic_streams(ACCURACIES, ROWS, correlation=0.0, seed=s), s).survivors
               for s in range(40))
    assert kept >= 38


def share_of_equals_stopped(alpha: float) -> float:
    stops = 0
    for seed in range(40):
        streams = synthetic_streams([0.8] * 5, ROWS, correlation=0.5, seed=seed)
        stops += len(run_race(list(streams), ROWS, RaceSettings(seed=seed, alpha=alpha), lambda k, rows: streams[k][rows]).stops)
    return stops / (40 * 4)


def test_testing_after_every_round_stops_some_equal_candidates_and_a_smaller_alpha_fewer():
    """The price of looking after every round (what the report says): with five equally accurate
    candidates about one in seven is stopped at alpha 0.05 (measured 14%), about one in sixteen at 0.05/3."""
    assert share_of_equals_stopped(0.05) <= 0.2
    assert share_of_equals_stopped(0.05 / 3) <= 0.09


@pytest.fixture(scope="module")
def race_sample(tmp_path_factory):
    rows = tiny_models.synthetic_rows(n_per_label=30, seed=3)  # 90 rows
    return tiny_models.write_csv(tmp_path_factory.mktemp("race") / "tickets.csv", rows)


@pytest.fixture(scope="module")
def bad_classifier(models_dir):
    """Random weights with the sample's labels: about one row in three right."""
    return tiny_models.build_classifier(models_dir / "race-bad", sorted(tiny_models.KEYWORDS), seed=5)


def test_cli_race_stops_the_bad_model_early(trained_classifier, bad_classifier, race_sample, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MSD_LATENCY_ROWS", "2")
    monkeypatch.setenv("MSD_BOOTSTRAP_RESAMPLES", "100")
    out = tmp_path / "raced.json"
    code = cli(["evaluate", "--data", str(race_sample), "--model", str(trained_classifier), "--model", str(bad_classifier),
                "--kind", "text-classification", "--race", "--race-first-rows", "20", "--race-growth", "2",
                "--no-baselines", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    run = read_json(out)
    good, bad = run.results
    assert good.race.rows_seen == 90 and not good.race.stopped and len(good.predictions) == 90
    assert bad.race.stopped and bad.race.rows_seen < 90 and len(bad.predictions) == bad.race.rows_seen
    assert bad.race.sentence.startswith(f"stopped at {bad.race.rows_seen} rows: worse than {trained_classifier}, p=")
    assert bad.race.sentence in printed and "Racing: the 90 rows were shuffled" in printed
    sample = load_csv(race_sample)
    seen = [p.row for p in bad.predictions]
    truth = [sample.single_labels[i] for i in seen]
    assert bad.metrics.accuracy == pytest.approx(accuracy_score(truth, [p.labels[0] for p in bad.predictions]))
    assert bad.metrics.rows == len(seen)
    assert sorted(seen) == sorted(np.random.default_rng(0).permutation(90)[: bad.race.rows_seen].tolist())
    assert good.metrics.accuracy == pytest.approx(accuracy_score(sample.single_labels, [p.labels[0] for p in good.predictions]))
    assert [t.a for t in run.comparisons] == []  # one finished trial: nothing to pair
    from transformers import pipeline  # an independent reading of the same rows: the round's rows map back right

    plain = pipeline("text-classification", model=str(bad_classifier), truncation=True)
    assert [p.labels[0] for p in bad.predictions] == [o["label"] for o in plain([sample.texts[i] for i in seen])]
    assert json.loads(out.read_text())["results"][1]["race"]["stopped"] is True


def test_worker_race_saves_the_stopped_trial_with_its_rows_and_the_report_explains(
        trained_classifier, bad_classifier, race_sample, tmp_path, monkeypatch):
    from core.compare import build_comparison
    from core.runner import TrialSpec
    from core.settings import get_settings
    from core.store import DONE, Store
    from core.worker import Job, submit

    for key, value in {"MSD_DATA_DIR": str(tmp_path / "data"), "MSD_LATENCY_ROWS": "2",
                       "MSD_BOOTSTRAP_RESAMPLES": "100"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    store, sample = Store(settings=get_settings()), load_csv(race_sample)
    specs = [TrialSpec(kind="text-classification", model=str(m)) for m in (bad_classifier, trained_classifier)]
    specs.append(TrialSpec(kind="baseline-tfidf", device="cpu", dtype="n/a", folds=3))
    run_id = submit(store, sample, specs, race=RaceSettings(first_rows=30, growth=2))
    assert store.claim(run_id, host="test") and Job(store, run_id, get_settings()).run() == DONE
    run = store.load_run(run_id)
    bad, good, tfidf = run.results
    assert bad.race.stopped and len(bad.predictions) == bad.race.rows_seen < 90 and bad.metrics.rows == bad.race.rows_seen
    assert good.race.rows_seen == 90 and len(good.predictions) == 90 and tfidf.race is None and len(tfidf.predictions) == 90
    assert [(t.a, t.b) for t in run.comparisons] == [(good.key, tfidf.key)]  # the stopped trial is not paired
    comparison = build_comparison(run, sample=sample)
    assert comparison.leaderboard[-1].key == bad.key and comparison.leaderboard[-1].stopped == bad.race.sentence
    assert any(note.startswith("Racing: the 90 rows were shuffled") and "1 of 2 raced trials stopped early" in note
               for note in comparison.notes)
    assert store.run_summary(run_id).best_model in (good.model, tfidf.model)  # History never names a stopped trial


def test_the_evaluate_switch_gives_the_race_asked_for():
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from ui.race import race_inputs

        st.session_state["chosen"] = race_inputs()

    app = AppTest.from_function(page).run()
    assert app.session_state["chosen"] is None and not app.number_input
    app.toggle(key="race").set_value(True).run()
    assert app.session_state["chosen"] == RaceSettings()
    app.number_input(key="race-first").set_value(20).run()
    app.number_input(key="race-alpha").set_value(0.01).run()
    assert app.session_state["chosen"] == RaceSettings(alpha=0.01, first_rows=20)

"""core.compare: the numbers the Compare page and the report share, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from core.compare import ONE_POINT, build_comparison, name_trials, pareto_front
from core.dataset import load_csv
from tests.report_fixtures import MISSING_MODEL, error_trial, make_run, make_sample, make_trial, real_run, with_accuracy


@pytest.fixture(scope="module")
def run_and_sample(synthetic_csv, trained_classifier, nli_model):
    return real_run(synthetic_csv, trained_classifier, nli_model)


@pytest.fixture(scope="module")
def comparison(run_and_sample):
    run, sample = run_and_sample
    return build_comparison(run, sample=sample, price_per_hour={"cpu": 0.36}, latency_budget_ms=10_000)


def brute_force_front(points: dict[str, tuple[float, float]]) -> set[str]:
    def dominated(key):
        a, lat = points[key]
        return any(a2 >= a and l2 <= lat and (a2 > a or l2 < lat) for k2, (a2, l2) in points.items() if k2 != key)

    return {key for key in points if not dominated(key)}


# -- the real run -----------------------------------------------------------------------------


def test_leaderboard_has_every_trial_best_first_and_errors_last(comparison, run_and_sample):
    run, _ = run_and_sample
    rows = comparison.leaderboard
    assert sorted(r.key for r in rows) == sorted(t.key for t in run.results)
    ok = [r for r in rows if r.ok]
    assert [r.accuracy for r in ok] == sorted((r.accuracy for r in ok), reverse=True)
    assert {r.kind for r in ok if r.baseline} == {"baseline-majority", "baseline-tfidf"}
    assert rows[-1].model == MISSING_MODEL and not rows[-1].ok and rows[-1].accuracy is None
    assert rows[-1].error == next(t.error for t in run.results if not t.ok) and MISSING_MODEL in rows[-1].error


def test_leaderboard_scores_match_sklearn_on_the_predictions(comparison, run_and_sample):
    run, sample = run_and_sample
    truth = sample.single_labels
    for trial in run.succeeded:
        row = comparison.row(trial.key)
        predicted = [p.labels[0] for p in trial.predictions]
        assert row.accuracy == pytest.approx(accuracy_score(truth, predicted))
        assert row.macro_f1 == pytest.approx(f1_score(truth, predicted, labels=sample.label_set, average="macro", zero_division=0))
        assert row.accuracy_ci[0] <= row.accuracy <= row.accuracy_ci[1]
        assert row.p50_ms == trial.latency.p50_ms and row.load_s == trial.load_s and row.parameters == trial.parameters


def test_trained_classifier_leads_and_is_recommended(comparison, run_and_sample, trained_classifier):
    best = comparison.leaderboard[0]
    assert best.model == str(trained_classifier) and best.accuracy > 0.9
    assert comparison.recommendation.most_accurate in {r.key for r in comparison.leaderboard if r.model == str(trained_classifier)}
    assert comparison.recommendation.sentences[0].startswith(f"Most accurate: {best.name}, accuracy {best.accuracy:.3f}")


def test_pareto_front_matches_brute_force(comparison):
    points = {r.key: (r.accuracy, r.p50_ms) for r in comparison.ok_rows}
    assert set(comparison.front) == brute_force_front(points)
    assert {r.key for r in comparison.leaderboard if r.on_front} == set(comparison.front)


def test_cost_per_thousand_predictions_from_the_price_per_hour(comparison):
    for row in comparison.ok_rows:
        seconds_for_1000 = 1000 / row.throughput_per_s
        assert row.cost_per_1k == pytest.approx(0.36 * seconds_for_1000 / 3600)
    assert all(r.cost_per_1k is None for r in comparison.leaderboard if not r.ok)
    assert all(r.cost_per_1k is None for r in build_comparison(comparison.run).leaderboard)


def test_dtype_comparison_speedup_and_agreement_match_numpy(comparison, run_and_sample, trained_classifier):
    run, _ = run_and_sample
    (group,) = [g for g in comparison.devices if g.model == str(trained_classifier)]
    trials = {t.key: t for t in run.results}
    reference = trials[group.reference_key]
    assert (reference.device, reference.dtype) == ("cpu", "float32")
    assert {(r.device, r.dtype) for r in group.rows} == {("cpu", "float32"), ("cpu", "bfloat16")}
    ref_labels = np.array([p.labels[0] for p in reference.predictions])
    for row in group.rows:
        labels = np.array([p.labels[0] for p in trials[row.key].predictions])
        assert row.agreement == pytest.approx(float(np.mean(labels == ref_labels)))
        assert row.latency_speedup == pytest.approx(reference.latency.p50_ms / trials[row.key].latency.p50_ms)
        assert row.throughput_speedup == pytest.approx(trials[row.key].latency.throughput_per_s / reference.latency.throughput_per_s)
    assert not [g for g in comparison.devices if g.model.startswith("baseline")], "baselines have no device variants"


def test_class_f1_matrix_matches_sklearn(comparison, run_and_sample):
    run, sample = run_and_sample
    trials = {t.key: t for t in run.results}
    matrix = comparison.class_f1
    assert matrix.labels == sample.label_set
    for key, values in zip(matrix.keys, matrix.f1):
        predicted = [p.labels[0] for p in trials[key].predictions]
        expected = f1_score(sample.single_labels, predicted, labels=sample.label_set, average=None, zero_division=0)
        assert values == pytest.approx(list(expected))


def test_paired_groups_agree_with_the_stored_tests(comparison, run_and_sample):
    run, _ = run_and_sample
    different = {frozenset((t.a, t.b)) for t in run.comparisons if t.different}
    for group in comparison.paired.groups:
        assert all(frozenset((group[0], k)) not in different for k in group[1:])
    flattened = [k for group in comparison.paired.groups for k in group]
    assert flattened == comparison.paired.keys
    leader = comparison.paired.groups[0][0]
    for group in comparison.paired.groups[1:]:
        assert all(frozenset((leader, k)) in different for k in group), "each later tier differs from the leader"


def test_error_examples_are_real_mistakes_capped_and_most_confident_first(run_and_sample):
    run, sample = run_and_sample
    comparison = build_comparison(run, sample=sample, examples_per_model=3)
    models = [t for t in run.succeeded if not t.kind.startswith("baseline")]
    assert [e.key for e in comparison.errors.per_trial] == [t.key for t in models]
    for errors, trial in zip(comparison.errors.per_trial, models):
        wrong = [p for p in trial.predictions if set(p.labels) != set(sample.labels[p.row])]
        assert errors.wrong == len(wrong) and len(errors.mistakes) == min(3, len(wrong))
        assert [e.score for e in errors.mistakes] == sorted((e.score for e in errors.mistakes), reverse=True)
        for example in errors.mistakes:
            assert example.truth == sample.labels[example.row] and example.predicted != example.truth
            assert example.text == " ".join(sample.texts[example.row].split())[:300]
    for row in comparison.errors.disagreements:
        assert len({labels for labels, _ in row.predictions.values()}) > 1
    assert comparison.errors.disagreeing_rows >= len(comparison.errors.disagreements) > 0


def test_without_the_sample_error_examples_say_how_to_include_them(run_and_sample):
    run, _ = run_and_sample
    errors = build_comparison(run).errors
    assert not errors.included and errors.per_trial == [] and "--data" in errors.note


def test_a_different_sample_is_refused_with_a_clear_sentence(run_and_sample, example_csv):
    run, _ = run_and_sample
    comparison = build_comparison(run, sample=load_csv(example_csv))
    assert not comparison.errors.included
    assert comparison.notes == [comparison.errors.note]
    assert "is not the one this run evaluated" in comparison.notes[0] and run.dataset.sha256[:12] in comparison.notes[0]


# -- hand-built runs ---------------------------------------------------------------------------


def three_way_run(n: int = 200):
    truth = ["a", "b"] * (n // 2)
    sample = make_sample([f"text {i}" for i in range(n)], truth)
    trials = [
        make_trial("org/alpha", sample, with_accuracy(truth, 180, "a"), p50_ms=20.0),
        make_trial("org/beta", sample, with_accuracy(truth, 179, "a", offset=1), p50_ms=5.0),
        make_trial("org/gamma", sample, with_accuracy(truth, 120, "a"), p50_ms=1.0),
    ]
    return make_run(sample, trials), sample


def test_paired_sentence_in_plain_words():
    run, _ = three_way_run()
    paired = build_comparison(run).paired
    assert paired.groups == [[run.results[0].key, run.results[1].key], [run.results[2].key]]
    assert paired.sentence.startswith("org/alpha and org/beta cannot be told apart on this sample; org/gamma is worse than both (")


def test_recommendation_fastest_within_one_point_and_under_budget():
    run, _ = three_way_run()
    alpha, beta, gamma = (t.key for t in run.results)
    rec = build_comparison(run, latency_budget_ms=2.0).recommendation
    assert (rec.most_accurate, rec.fastest_within_point, rec.under_budget) == (alpha, beta, gamma)
    assert run.results[0].metrics.accuracy - run.results[1].metrics.accuracy <= ONE_POINT
    assert "Fastest within one accuracy point of the best: org/beta" in rec.sentences[1] and "4.0x faster" in rec.sentences[1]
    assert rec.sentences[-1].startswith("Best under the latency budget of 2 ms per row (p95): org/gamma")
    none = build_comparison(run, latency_budget_ms=0.5).recommendation
    assert none.under_budget is None and "No model meets the latency budget of 0.5 ms" in none.sentences[-1]


def test_a_baseline_as_accurate_as_every_model_is_called_out():
    truth = ["a"] * 30 + ["b"] * 10
    sample = make_sample([f"t{i}" for i in range(40)], truth)
    trials = [
        make_trial("org/model", sample, with_accuracy(truth, 25, "b")),
        make_trial("baseline-majority", sample, ["a"] * 40, kind="baseline-majority", dtype="n/a", p50_ms=0.01),
    ]
    rec = build_comparison(make_run(sample, trials)).recommendation
    assert rec.most_accurate == trials[0].key, "the recommendation picks among models"
    assert any(s.startswith("The baseline baseline-majority is as accurate (0.750)") for s in rec.sentences)


def test_partial_overlap_and_single_or_no_trial_sentences():
    run, sample = three_way_run(n=60)
    paired = build_comparison(run).paired
    assert "cannot be told apart" in paired.sentence
    one = make_run(sample, [run.results[0], error_trial("org/broken", "It broke.")])
    assert build_comparison(one).paired.sentence == "Only org/alpha succeeded, so there is nothing to compare it with."
    none = build_comparison(make_run(sample, [error_trial("org/broken", "It broke.")]))
    assert none.paired.sentence.startswith("No trial succeeded") and none.recommendation.most_accurate is None
    assert none.leaderboard[0].error == "It broke." and none.front == []


def test_reference_is_float32_on_cpu_and_prices_match_device_families():
    truth = ["a", "b"] * 10
    sample = make_sample([f"t{i}" for i in range(20)], truth)
    preds = with_accuracy(truth, 15, "a")
    half = preds[:10] + with_accuracy(truth, 20, "a")[10:]
    trials = [
        make_trial("org/m", sample, half, device="cuda:0", dtype="float16", p50_ms=2.0, throughput_per_s=400.0),
        make_trial("org/m", sample, preds, device="cpu", dtype="float32", p50_ms=10.0, throughput_per_s=50.0),
    ]
    comparison = build_comparison(make_run(sample, trials), price_per_hour={"cuda": 3.6, "cpu": 0.36})
    (group,) = comparison.devices
    assert group.reference_key == trials[1].key and group.reference_name == "org/m (cpu, float32)"
    gpu = next(r for r in group.rows if r.device == "cuda:0")
    expected = np.mean(np.array(half) == np.array(preds))
    assert gpu.agreement == pytest.approx(expected) and gpu.latency_speedup == pytest.approx(5.0)
    assert comparison.row(trials[0].key).cost_per_1k == pytest.approx(3.6 / 3600 / 400 * 1000)


def test_names_add_only_the_parts_that_vary():
    sample = make_sample(["x", "y"], ["a", "b"])
    trials = [
        make_trial("org/m", sample, ["a", "b"], dtype="float32"), make_trial("org/m", sample, ["a", "a"], dtype="bfloat16"),
        make_trial("org/n", sample, ["a", "b"]),
    ]
    assert list(name_trials(trials).values()) == ["org/m (float32)", "org/m (bfloat16)", "org/n"]


def test_comparisons_are_computed_when_a_results_file_lacks_them():
    run, _ = three_way_run()
    stored = build_comparison(run).paired
    run.comparisons = []
    computed = build_comparison(run).paired
    assert computed.p_holm == stored.p_holm and computed.groups == stored.groups


points = st.dictionaries(
    st.text(alphabet="abcdefgh", min_size=1, max_size=3),
    st.tuples(st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.9]), st.sampled_from([1.0, 2.0, 5.0, 10.0])),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(points)
def test_pareto_front_equals_brute_force_with_ties(points):
    front = pareto_front(points)
    assert set(front) == brute_force_front(points)
    assert [points[k][1] for k in front] == sorted(points[k][1] for k in front)

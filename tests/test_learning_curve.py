"""Would more labels help? Learning curves of the probe and the fine-tune kind."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core import charts
from core.compare import build_comparison
from core.dataset import load_csv
from core.learning_curve import FRACTIONS, CurvePoint, LearningCurve, learning_curve, nested_order, with_extrapolation
from core.results import run_from_dict, run_to_dict, validate
from core.runner import TrialSpec, plan, run_plan
from core.settings import Settings
from core.tasks.cross_validation import stratified_splits
from tests.report_fixtures import make_run, make_sample, make_trial

SETTINGS = Settings(bootstrap_resamples=50, latency_rows=4)


def test_the_points_use_nested_stratified_subsets_of_the_same_folds(synthetic_csv):
    sample = load_csv(synthetic_csv)
    splits = stratified_splits(sample, 5, 0)
    seen: dict[int, list[set]] = {}

    def fit_predict(train, held_out):
        fold = next(i for i, (_, h) in enumerate(splits) if np.array_equal(h, held_out))
        assert set(train) <= set(splits[fold][0]), "a subset of that fold's training rows only"
        seen.setdefault(fold, []).append(set(train.tolist()))
        assert {sample.single_labels[i] for i in train} == set(sample.label_set), "every label in every subset"
        return ["bug"] * len(held_out)

    curve = learning_curve(sample, splits, fit_predict, seed=0)
    for fold, subsets in seen.items():
        assert len(subsets) == len(FRACTIONS)
        assert all(a < b for a, b in zip(subsets, subsets[1:])), "25% within 50% within 75% within 100%"
        assert len(subsets[-1]) == len(splits[fold][0])
    truth = np.array(sample.single_labels)
    assert [p.accuracy for p in curve.measured] == [pytest.approx((truth == "bug").mean())] * 4
    order = nested_order(np.arange(12), ["a", "b", "c"] * 4, seed=1)
    assert sorted(order) == list(range(12)) and {["a", "b", "c"][i % 3] for i in order[:3]} == {"a", "b", "c"}


def test_the_extrapolation_is_the_power_law_fitted_to_the_measured_points():
    measured = [CurvePoint(f, rows, acc, (acc - 0.05, acc + 0.05)) for f, rows, acc in
                [(0.25, 40, 0.62), (0.5, 80, 0.71), (0.75, 120, 0.76), (1.0, 160, 0.79)]]
    curve = with_extrapolation(measured)
    fit = stats.linregress(np.log([40, 80, 120, 160]), np.log([0.38, 0.29, 0.24, 0.21]))
    assert curve.exponent == pytest.approx(-fit.slope, rel=1e-4) and curve.scale == pytest.approx(np.exp(fit.intercept), rel=1e-4)
    for fraction in (2.0, 4.0):
        point = curve.projected(fraction)
        assert point.extrapolated and point.accuracy_ci is None and point.train_rows == 160 * fraction
        assert point.accuracy == pytest.approx(1 - np.exp(fit.intercept) * (160 * fraction) ** fit.slope, rel=1e-4)
    assert curve.projected(4.0).accuracy > curve.projected(2.0).accuracy > 0.79


def test_the_probe_has_a_learning_curve_whose_full_point_is_its_score(synthetic_csv, encoder):
    sample = load_csv(synthetic_csv)
    run = run_plan(plan([str(encoder)], kind="embedding-probe", baselines=False), sample, settings=SETTINGS)
    trial = run.results[0]
    curve = trial.learning_curve
    assert [p.fraction for p in curve.points] == [0.25, 0.5, 0.75, 1.0, 2.0, 4.0]
    assert curve.measured[-1].accuracy == pytest.approx(trial.metrics.accuracy)
    assert curve.measured[0].train_rows == pytest.approx(0.25 * len(sample) * 4 / 5, abs=1)
    data = run_to_dict(run)
    validate(data)
    assert run_from_dict(data).results[0].learning_curve == curve


def test_fine_tune_learning_curve_on_request(synthetic_csv, encoder):
    sample = load_csv(synthetic_csv)
    spec = TrialSpec(kind="fine-tune", model=str(encoder), epochs=1, folds=2, learning_curve=True)
    trial = run_plan([spec], sample, settings=SETTINGS).results[0]
    assert trial.ok, trial.error
    assert len(trial.learning_curve.measured) == 4 and len(trial.training) == 2
    assert trial.learning_curve.measured[-1].accuracy == pytest.approx(trial.metrics.accuracy)
    assert run_plan([TrialSpec(kind="fine-tune", model=str(encoder), epochs=1, folds=2)], sample,
                    settings=SETTINGS).results[0].learning_curve is None


def curve_of(accuracies: list[float]) -> LearningCurve:
    rows = [25, 50, 75, 100]
    return with_extrapolation([CurvePoint(f, r, a, (a - 0.1, a + 0.1)) for f, r, a in zip(FRACTIONS, rows, accuracies)])


def test_the_recommendation_says_when_more_labels_would_change_the_leader():
    sample = make_sample([f"row {i}" for i in range(20)], ["a", "b"] * 10)
    steady = make_trial("steady", sample, ["a", "b"] * 9 + ["b", "a"], kind="embedding-probe")
    climbing = make_trial("climbing", sample, ["a", "b"] * 8 + ["b", "a"] * 2, kind="embedding-probe")
    steady.learning_curve, climbing.learning_curve = curve_of([0.89, 0.895, 0.898, 0.9]), curve_of([0.4, 0.62, 0.73, 0.8])
    comparison = build_comparison(make_run(sample, [steady, climbing]))
    sentence = comparison.recommendation.sentences[-1]
    assert sentence.startswith("With 4x the labels") and "climbing is projected to overtake steady" in sentence
    assert "extrapolation" in sentence
    figure = charts.learning_curve_chart(comparison)
    dashed = [t for t in figure.data if t.line.dash == "dash"]
    assert len(dashed) == 2 and all(t.name.endswith("(extrapolated)") for t in dashed)

"""Scores cross-checked against direct scikit-learn / scipy calls on the same predictions."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, hamming_loss, precision_recall_fscore_support

from core.metrics import (
    OTHER,
    compare_pairs,
    compute_scores,
    holm,
    leaders_warning,
    macro_f1_of,
    mcnemar_exact,
    multilabel_macro_f1_of,
    rows_correct,
)

LABELS = ["a", "b", "c"]


def random_predictions(n=120, seed=1, wrong_rate=0.3):
    rng = np.random.default_rng(seed)
    truth = rng.choice(LABELS, n).tolist()
    pred = [rng.choice(LABELS + ["zzz"]) if rng.random() < wrong_rate else t for t in truth]
    return truth, pred


def test_single_label_scores_match_sklearn():
    truth, pred = random_predictions()
    scores = compute_scores([(t,) for t in truth], [(p,) for p in pred], LABELS, resamples=200)
    mapped = [p if p in LABELS else OTHER for p in pred]
    assert scores.accuracy == pytest.approx(accuracy_score(truth, pred))
    assert scores.macro_f1 == pytest.approx(f1_score(truth, mapped, labels=LABELS, average="macro", zero_division=0))
    assert scores.weighted_f1 == pytest.approx(f1_score(truth, mapped, labels=LABELS, average="weighted", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(truth, mapped, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        got = scores.per_class[label]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert scores.confusion_labels == LABELS + [OTHER]
    assert scores.confusion_matrix == confusion_matrix(truth, mapped, labels=LABELS + [OTHER]).tolist()


def test_vectorized_macro_f1_equals_sklearn_on_resamples():
    truth, pred = random_predictions(n=80, seed=3)
    codes = {label: i for i, label in enumerate(LABELS)}
    t = np.array([codes[x] for x in truth])
    p = np.array([codes.get(x, 3) for x in pred])
    idx = np.random.default_rng(0).integers(0, len(t), size=(25, len(t)))
    fast = macro_f1_of(t[idx], p[idx], 3)
    slow = [
        f1_score(t[row], p[row], labels=[0, 1, 2], average="macro", zero_division=0) for row in idx
    ]
    assert fast == pytest.approx(slow)


def test_intervals_contain_the_estimate_and_are_seeded():
    truth, pred = random_predictions(n=200)
    args = ([(t,) for t in truth], [(p,) for p in pred], LABELS)
    first = compute_scores(*args, resamples=500, seed=7)
    again = compute_scores(*args, resamples=500, seed=7)
    other = compute_scores(*args, resamples=500, seed=8)
    assert first.accuracy_ci == again.accuracy_ci and first.macro_f1_ci == again.macro_f1_ci
    assert first.accuracy_ci != other.accuracy_ci
    low, high = first.accuracy_ci
    assert low < first.accuracy < high and high - low < 0.2
    # a normal-approximation interval for a proportion is close to the percentile bootstrap
    se = np.sqrt(first.accuracy * (1 - first.accuracy) / 200)
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_perfect_predictions_give_a_degenerate_interval():
    scores = compute_scores([("a",), ("b",)] * 10, [("a",), ("b",)] * 10, ["a", "b"], resamples=100)
    assert scores.accuracy == 1.0 and scores.accuracy_ci == (1.0, 1.0)


def test_multi_label_scores_match_sklearn():
    rng = np.random.default_rng(5)
    truth_matrix = rng.random((60, 3)) < 0.4
    pred_matrix = truth_matrix ^ (rng.random((60, 3)) < 0.2)
    as_tuples = lambda m: [tuple(l for l, on in zip(LABELS, row) if on) for row in m]  # noqa: E731
    scores = compute_scores(as_tuples(truth_matrix), as_tuples(pred_matrix), LABELS, multi_label=True, resamples=100)
    assert scores.accuracy == pytest.approx(accuracy_score(truth_matrix, pred_matrix))
    assert scores.micro_f1 == pytest.approx(f1_score(truth_matrix, pred_matrix, average="micro", zero_division=0))
    assert scores.macro_f1 == pytest.approx(f1_score(truth_matrix, pred_matrix, average="macro", zero_division=0))
    assert scores.hamming_loss == pytest.approx(hamming_loss(truth_matrix, pred_matrix))
    idx = rng.integers(0, 60, size=(10, 60))
    assert multilabel_macro_f1_of(truth_matrix[idx], pred_matrix[idx]) == pytest.approx(
        [f1_score(truth_matrix[r], pred_matrix[r], average="macro", zero_division=0) for r in idx]
    )


def test_mcnemar_matches_scipy_binomial_test():
    a = np.array([True] * 30 + [False] * 10 + [True] * 8 + [False] * 2)
    b = np.array([True] * 30 + [False] * 10 + [False] * 8 + [True] * 2)
    only_a, only_b, p = mcnemar_exact(a, b)
    assert (only_a, only_b) == (8, 2)
    assert p == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)
    assert mcnemar_exact(a, a)[2] == 1.0


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_leaders_warning_names_indistinguishable_leaders():
    rng = np.random.default_rng(0)
    truth = rng.random(40) < 0.8
    close = truth.copy()
    close[:2] = ~close[:2]
    bad = np.zeros(40, dtype=bool)
    correct = {"A": truth, "B": close, "C": bad}
    tests = compare_pairs(correct)
    accuracy = {k: v.mean() for k, v in correct.items()}
    warning = leaders_warning(accuracy, tests, 40)
    best, second = sorted(["A", "B"], key=lambda k: -accuracy[k])
    assert warning.startswith(f"On this sample of 40 rows, {best} and {second} cannot be told apart")
    assert "C" not in warning
    assert leaders_warning({"A": 0.9, "C": 0.0}, compare_pairs({"A": truth, "C": bad}), 40) is None


def test_row_flags_agree_with_accuracy_single_and_multi_label():
    """The per-row flag (paired tests, error lists) and the accuracy follow one rule, also for
    unknown labels and for a multi-label model scored on single-label rows."""
    truth, pred = random_predictions()
    y_true = [(t,) for t in truth]
    y_pred = [(p, "b") if i % 3 == 0 else (p,) for i, p in enumerate(pred)]  # a second label on some rows
    flags = rows_correct(y_true, y_pred, LABELS)
    assert np.mean(flags) == pytest.approx(compute_scores(y_true, y_pred, LABELS, resamples=10).accuracy)
    assert np.mean(flags) == pytest.approx(accuracy_score(truth, pred))

    rng = np.random.default_rng(3)
    multi_true = [tuple(sorted(set(rng.choice(LABELS, rng.integers(1, 3)).tolist()))) for _ in range(80)]
    multi_pred = [t + ("zzz",) if i % 4 == 0 else t[:1] for i, t in enumerate(multi_true)]  # unknown label ignored
    flags = rows_correct(multi_true, multi_pred, LABELS, multi_label=True)
    scores = compute_scores(multi_true, multi_pred, LABELS, multi_label=True, resamples=10)
    assert np.mean(flags) == pytest.approx(scores.accuracy)
    assert flags[0] and 0 < np.mean(flags) < 1

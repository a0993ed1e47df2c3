"""Scores with bootstrap intervals, and paired tests between trials (scikit-learn, scipy)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

#: Column of the confusion matrix for predictions outside the sample's labels.
OTHER = "(other)"
ALPHA = 0.05
BOOTSTRAP_BATCH = 50


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Every score of one trial. Intervals are 95% percentile-bootstrap intervals."""

    rows: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    weighted_f1: float
    per_class: dict[str, ClassScores]
    confusion_labels: list[str]
    confusion_matrix: list[list[int]]
    multi_label: bool = False
    micro_f1: float | None = None
    hamming_loss: float | None = None


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test of two trials on the same rows."""

    a: str
    b: str
    only_a_correct: int
    only_b_correct: int
    p_value: float
    p_holm: float

    @property
    def different(self) -> bool:
        return self.p_holm < ALPHA


def compute_scores(
    y_true: list[tuple[str, ...]],
    y_pred: list[tuple[str, ...]],
    labels: list[str],
    *,
    multi_label: bool = False,
    resamples: int = 1000,
    seed: int = 0,
) -> Scores:
    """Score predictions against the truth; labels outside `labels` count as wrong."""
    if len(y_true) != len(y_pred) or not y_true:
        raise ValueError(f"need as many predictions as rows (got {len(y_pred)} for {len(y_true)})")
    if multi_label:
        return _multi_label_scores(y_true, y_pred, labels, resamples, seed)
    return _single_label_scores(y_true, y_pred, labels, resamples, seed)


def rows_correct(
    y_true: list[tuple[str, ...]], y_pred: list[tuple[str, ...]], labels: list[str], *, multi_label: bool = False
) -> list[bool]:
    """Whether each row counts as right, by the same rule as `compute_scores`' accuracy.

    Single-label: the first predicted label is the row's label. Multi-label: the predicted labels
    that are sample labels are exactly the row's labels (others are ignored, as in the scores).
    """
    known = set(labels)
    if multi_label:
        return [{p for p in pred if p in known} == set(true) for true, pred in zip(y_true, y_pred)]
    return [bool(pred) and pred[0] in known and pred[0] == true[0] for true, pred in zip(y_true, y_pred)]


def _single_label_scores(y_true, y_pred, labels, resamples, seed) -> Scores:
    true = [row[0] for row in y_true]
    pred = [row[0] if row and row[0] in labels else OTHER for row in y_pred]
    shown = labels + ([OTHER] if OTHER in pred else [])
    codes = {label: i for i, label in enumerate(labels)}
    true_codes = np.array([codes[t] for t in true])
    pred_codes = np.array([codes.get(p, len(labels)) for p in pred])
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    accuracy_ci = bootstrap_ci(lambda idx: (true_codes[idx] == pred_codes[idx]).mean(axis=-1), len(true), resamples, seed)
    macro_ci = bootstrap_ci(lambda idx: macro_f1_of(true_codes[idx], pred_codes[idx], len(labels)), len(true), resamples, seed)
    return Scores(
        rows=len(true),
        accuracy=float(accuracy_score(true, pred)),
        accuracy_ci=accuracy_ci,
        macro_f1=float(f1_score(true, pred, labels=labels, average="macro", zero_division=0)),
        macro_f1_ci=macro_ci,
        weighted_f1=float(f1_score(true, pred, labels=labels, average="weighted", zero_division=0)),
        per_class=_per_class(labels, precision, recall, f1, support),
        confusion_labels=shown,
        confusion_matrix=confusion_matrix(true, pred, labels=shown).tolist(),
    )


def _multi_label_scores(y_true, y_pred, labels, resamples, seed) -> Scores:
    binarizer = MultiLabelBinarizer(classes=labels)
    truth = binarizer.fit_transform(y_true).astype(bool)
    known = set(labels)
    pred = binarizer.transform([tuple(p for p in row if p in known) for row in y_pred]).astype(bool)
    precision, recall, f1, support = precision_recall_fscore_support(truth, pred, zero_division=0)
    exact = (truth == pred).all(axis=1)
    return Scores(
        rows=len(truth),
        accuracy=float(accuracy_score(truth, pred)),
        accuracy_ci=bootstrap_ci(lambda idx: exact[idx].mean(axis=-1), len(truth), resamples, seed),
        macro_f1=float(f1_score(truth, pred, average="macro", zero_division=0)),
        macro_f1_ci=bootstrap_ci(lambda idx: multilabel_macro_f1_of(truth[idx], pred[idx]), len(truth), resamples, seed),
        weighted_f1=float(f1_score(truth, pred, average="weighted", zero_division=0)),
        per_class=_per_class(labels, precision, recall, f1, support),
        confusion_labels=labels,
        confusion_matrix=_label_co_occurrence(truth, pred),
        multi_label=True,
        micro_f1=float(f1_score(truth, pred, average="micro", zero_division=0)),
        hamming_loss=float(hamming_loss(truth, pred)),
    )


def _per_class(labels, precision, recall, f1, support) -> dict[str, ClassScores]:
    return {
        label: ClassScores(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    }


def _label_co_occurrence(truth: np.ndarray, pred: np.ndarray) -> list[list[int]]:
    """Multi-label stand-in for a confusion matrix: rows true label, columns predicted label."""
    return (truth.T.astype(int) @ pred.astype(int)).tolist()


def bootstrap_ci(statistic, n: int, resamples: int, seed: int) -> tuple[float, float]:
    """95% percentile bootstrap interval of `statistic(indices)` over resampled rows."""
    if n < 2 or resamples < 1:
        value = float(statistic(np.arange(n)[None, :])[0])
        return value, value
    result = stats.bootstrap(
        (np.arange(n),),
        lambda idx, axis=-1: statistic(idx),
        n_resamples=resamples,
        vectorized=True,
        batch=BOOTSTRAP_BATCH,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return float(low), float(high)


def proportion_bootstrap_ci(successes: int, n: int) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of a proportion (accuracy), computed exactly instead of by
    resampling: n rows drawn with replacement hold Binomial(n, successes / n) successes. The same
    method as `bootstrap_ci`, without its Monte Carlo noise and in constant time (slices score every
    trial on every slice at each look)."""
    if n < 1:
        raise ValueError("a proportion needs at least one row")
    low, high = stats.binom.ppf([ALPHA / 2, 1 - ALPHA / 2], n, successes / n)
    return float(low) / n, float(high) / n


def macro_f1_of(true_codes: np.ndarray, pred_codes: np.ndarray, classes: int) -> np.ndarray:
    """Macro-F1 of each row of (resamples, n) code arrays; code `classes` means 'other'.

    Equal to sklearn's f1_score(average='macro', labels=..., zero_division=0), vectorized.
    """
    true_codes = np.atleast_2d(true_codes)
    pred_codes = np.atleast_2d(pred_codes)
    batch, width = true_codes.shape[0], classes + 1
    offsets = (np.arange(batch) * width)[:, None]

    def counts(codes: np.ndarray) -> np.ndarray:
        return np.bincount(codes.ravel(), minlength=batch * width).reshape(batch, width)[:, :classes]

    hits = counts(np.where(true_codes == pred_codes, true_codes, classes) + offsets)
    denominator = counts(true_codes + offsets) + counts(pred_codes + offsets)
    f1 = np.divide(2 * hits, denominator, out=np.zeros(hits.shape, dtype=float), where=denominator > 0)
    return f1.mean(axis=-1)


def multilabel_macro_f1_of(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Macro-F1 over labels of each (resamples, n, labels) boolean array pair."""
    truth, pred = np.atleast_3d(truth), np.atleast_3d(pred)
    hits = (truth & pred).sum(axis=-2)
    denominator = truth.sum(axis=-2) + pred.sum(axis=-2)
    f1 = np.divide(2 * hits, denominator, out=np.zeros(hits.shape, dtype=float), where=denominator > 0)
    return f1.mean(axis=-1)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """Counts of rows only A / only B got right, and the exact two-sided p-value."""
    only_a = int((correct_a & ~correct_b).sum())
    only_b = int((~correct_a & correct_b).sum())
    if only_a + only_b == 0:
        return only_a, only_b, 1.0
    return only_a, only_b, float(stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (controls the family-wise error of all pairs)."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def compare_pairs(correct: dict[str, np.ndarray]) -> list[PairedTest]:
    """McNemar's exact test for every two trials, Holm-adjusted over all pairs."""
    pairs = list(combinations(correct, 2))
    raw = [mcnemar_exact(correct[a], correct[b]) for a, b in pairs]
    adjusted = holm([p for _, _, p in raw]) if raw else []
    return [PairedTest(a, b, oa, ob, p, q) for (a, b), (oa, ob, p), q in zip(pairs, raw, adjusted)]


def indistinguishable_tiers(ranked: list[str], tests: list[PairedTest]) -> list[list[str]]:
    """Tiers, best first: the leader of what remains plus every trial the tests cannot tell from it
    (a pair no test compared is not told apart). `ranked` is ordered best first. The one rule for
    "cannot be told apart", used by the run's warning and the Compare page's paired summary."""
    different = {frozenset((t.a, t.b)) for t in tests if t.different}
    remaining, tiers = list(ranked), []
    while remaining:
        leader = remaining[0]
        tier = [key for key in remaining if key == leader or frozenset((leader, key)) not in different]
        tiers.append(tier)
        remaining = [key for key in remaining if key not in tier]
    return tiers


def indistinguishable_from_best(accuracy: dict[str, float], tests: list[PairedTest]) -> list[str]:
    """The best trial and every trial the tests cannot tell apart from it, best first."""
    ranked = sorted(accuracy, key=lambda key: -accuracy[key])
    return indistinguishable_tiers(ranked, tests)[0] if ranked else []


def leaders_warning(accuracy: dict[str, float], tests: list[PairedTest], rows: int) -> str | None:
    """A plain-words warning when the sample is too small to separate the leaders."""
    group = indistinguishable_from_best(accuracy, tests)
    if len(group) < 2:
        return None
    names = ", ".join(group[:-1]) + f" and {group[-1]}"
    return (
        f"On this sample of {rows} rows, {names} cannot be told apart (McNemar exact test, Holm-adjusted p >= {ALPHA}); "
        "their accuracy differences may be chance. Label more rows to separate them."
    )

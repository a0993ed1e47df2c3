"""Every successful trial scored per slice (a value of a metadata column, or a text-length quartile),
and what stands out, in words: a slice where another trial leads, a trial that drops well below its
overall accuracy, slices too small to rank.

Accuracy per slice comes from each row's `correct` flag (the rule `compute_scores` uses) with the
leaderboard's 95% percentile bootstrap interval, computed exactly (`proportion_bootstrap_ci`: constant
time, so Compare can score every trial on every slice at each look), so a slice's interval and the
overall one are comparable. Macro-F1 needs the sample's labels; it is None when they are not known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.compare.model import (
    DROP, EPSILON, LEADER_CHANGE, MIN_SLICE_ROWS, SLICE_DROP, TOO_SMALL, LeaderboardRow, SliceCallout, SliceCell,
    SliceRow, SliceTable,
)
from core.dataset import EMPTY_SLICE, LabeledSample
from core.metrics import macro_f1_of, multilabel_macro_f1_of, proportion_bootstrap_ci
from core.results import RowPrediction, RunResult
from core.slices import slice_memberships

Truth = list[tuple[str, ...]]


def build_slice_table(run: RunResult, ranked: list[LeaderboardRow], sample: LabeledSample | None) -> SliceTable:
    """Score the ranked (successful, leaderboard-ordered) trials on every slice of `run`; `sample`, when
    it is the evaluated one, adds macro-F1."""
    memberships = memberships_of(run, sample)
    trials = {t.key: t for t in run.results}
    scored = [r for r in ranked if trials[r.key].predictions]
    if not memberships or not scored:
        return SliceTable(note="This run has no slices." if scored else "No trial has per-row predictions to slice.")
    predictions = {r.key: {p.row: p for p in trials[r.key].predictions} for r in scored}
    truth = sample.labels if sample is not None else None
    scorer = SliceScorer(predictions, {r.key: r.name for r in scored}, truth, list(run.dataset.labels),
                         run.dataset.multi_label)
    rows = [scorer.slice_row(column, value, members) for column, values in memberships.items()
            for value, members in group_rows(values).items()]
    return SliceTable(keys=[r.key for r in scored], names=[r.name for r in scored], slices=rows,
                      callouts=find_callouts(rows, scored))


def memberships_of(run: RunResult, sample: LabeledSample | None) -> dict[str, list[str]]:
    """The run's own slices (computed again from the sample for runs that predate them), each of the
    run's length."""
    memberships = run.slices or (slice_memberships(sample) if sample is not None else {})
    return {column: values for column, values in memberships.items() if len(values) == run.dataset.rows}


def group_rows(values: list[str]) -> dict[str, list[int]]:
    """Slice value -> its rows, values in order (length quartiles Q1..Q4, metadata alphabetically, empty last)."""
    groups: dict[str, list[int]] = {}
    for row, value in enumerate(values):
        groups.setdefault(value, []).append(row)
    return {value: groups[value] for value in sorted(groups, key=lambda v: (v == EMPTY_SLICE, v))}


@dataclass(frozen=True)
class SliceScorer:
    """Scores trials on a set of rows; holds what every slice needs (predictions by row, truth, labels)."""

    predictions: dict[str, dict[int, RowPrediction]]
    names: dict[str, str]
    truth: Truth | None
    labels: list[str]
    multi_label: bool

    def slice_row(self, column: str, value: str, rows: list[int]) -> SliceRow:
        cells = [self.cell(key, rows) for key in self.predictions]
        small = len(rows) < MIN_SLICE_ROWS
        return SliceRow(column, value, len(rows), small, None if small else leader_of(cells), cells)

    def cell(self, key: str, rows: list[int]) -> SliceCell:
        by_row = self.predictions[key]
        kept = [row for row in rows if row in by_row]
        if not kept:
            return SliceCell(key, self.names[key], 0, None, None, None)
        correct = sum(by_row[row].correct for row in kept)
        macro_f1 = None
        if self.truth is not None:
            macro_f1 = slice_macro_f1([self.truth[row] for row in kept], [by_row[row].labels for row in kept],
                                      self.labels, multi_label=self.multi_label)
        return SliceCell(key, self.names[key], len(kept), correct / len(kept), proportion_bootstrap_ci(correct, len(kept)),
                         macro_f1)


def slice_macro_f1(truth: Truth, predicted: Truth, labels: list[str], *, multi_label: bool) -> float:
    """Macro-F1 over the sample labels present in these rows' truth or predictions (scikit-learn's
    default label set; over all sample labels, labels absent from a slice would each count as F1 0).
    Predictions outside the sample's labels count as wrong, as in `compute_scores`."""
    present = [label for label in labels if any(label in row for row in truth) or any(label in row for row in predicted)]
    if multi_label:
        truth_matrix = np.array([[label in row for label in present] for row in truth], dtype=bool)
        pred_matrix = np.array([[label in row for label in present] for row in predicted], dtype=bool)
        return float(multilabel_macro_f1_of(truth_matrix[None], pred_matrix[None])[0])
    codes = {label: i for i, label in enumerate(present)}
    true_codes = np.array([codes[row[0]] for row in truth])
    pred_codes = np.array([codes.get(row[0], len(present)) if row else len(present) for row in predicted])
    return float(macro_f1_of(true_codes, pred_codes, len(present))[0])


def leader_of(cells: list[SliceCell]) -> str | None:
    """The most accurate trial on the slice; a tie goes to the one ranked higher overall."""
    scored = [c for c in cells if c.accuracy is not None]
    return max(scored, key=lambda c: c.accuracy).key if scored else None


# -- call-outs ---------------------------------------------------------------------------------


def find_callouts(rows: list[SliceRow], ranked: list[LeaderboardRow]) -> list[SliceCallout]:
    """Leader changes, then drops, then one sentence naming the slices too small to rank."""
    overall = {r.key: r for r in ranked}
    changes = [c for row in rows if (c := leader_change(row, ranked[0])) is not None]
    drops = [c for row in rows if not row.small for cell in row.cells if (c := drop(row, cell, overall[cell.key]))]
    small = too_small(rows)
    return changes + drops + ([small] if small else [])


def leader_change(row: SliceRow, best: LeaderboardRow) -> SliceCallout | None:
    """A slice whose leader is more accurate there than the overall leader (a tie is no change)."""
    if row.small or row.leader is None or row.leader == best.key:
        return None
    leader, incumbent = row.cell(row.leader), row.cell(best.key)
    if incumbent is None or incumbent.accuracy is None or leader.accuracy <= incumbent.accuracy + EPSILON:
        return None
    sentence = (f"On {row.label} ({row.rows} rows), {leader.name} leads with accuracy {fmt_accuracy(leader)}; "
                f"{incumbent.name}, the most accurate overall, has {fmt_accuracy(incumbent)} there.")
    if overlap(leader.accuracy_ci, incumbent.accuracy_ci):
        sentence += " Their intervals overlap, so the difference may be chance."
    return SliceCallout(LEADER_CHANGE, sentence, row.column, row.value, leader.key)


def drop(row: SliceRow, cell: SliceCell, overall: LeaderboardRow) -> SliceCallout | None:
    """A trial more than SLICE_DROP below its overall accuracy on the slice, intervals apart."""
    if cell.accuracy is None or overall.accuracy is None or overall.accuracy_ci is None:
        return None
    if overall.accuracy - cell.accuracy <= SLICE_DROP or overlap(cell.accuracy_ci, overall.accuracy_ci):
        return None
    points = (overall.accuracy - cell.accuracy) * 100
    sentence = (f"{cell.name} drops on {row.label} ({row.rows} rows): accuracy {fmt_accuracy(cell)} against "
                f"{overall.accuracy:.3f} [{overall.accuracy_ci[0]:.3f}, {overall.accuracy_ci[1]:.3f}] overall, "
                f"{points:.0f} points lower, and the intervals do not overlap.")
    return SliceCallout(DROP, sentence, row.column, row.value, cell.key)


def too_small(rows: list[SliceRow]) -> SliceCallout | None:
    small = [row for row in rows if row.small]
    if not small:
        return None
    listed = "; ".join(f"{row.label} ({row.rows} rows)" for row in small)
    return SliceCallout(TOO_SMALL, f"Too small to rank (fewer than {MIN_SLICE_ROWS} rows, so the 95% interval says "
                                   f"little): {listed}. The accuracies there are shown, but no leader or drop is "
                                   "called out.")


def overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])


def fmt_accuracy(cell: SliceCell) -> str:
    low, high = cell.accuracy_ci
    return f"{cell.accuracy:.3f} [{low:.3f}, {high:.3f}]"

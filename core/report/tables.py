"""The report's tables and facts, formatted once for every format (HTML, Markdown, CSV, JSON)."""

from __future__ import annotations

import json

import pandas as pd

from core.compare import LeaderboardRow, LongTextRow, SliceCell, SliceRow
from core.dataset import LabeledSample
from core.report.model import Report
from core.results import RunResult

LABEL_JOIN = ";"

def fmt_number(value, digits: int = 2) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def fmt_interval(value: float | None, interval) -> str:
    if value is None:
        return ""
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def fmt_parameters(count: int | None) -> str:
    if count is None:
        return ""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def fmt_cost(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def fmt_labels(labels) -> str:
    return LABEL_JOIN.join(labels)


#: Leaderboard columns shown in HTML and Markdown: header -> how to format a row.
LEADERBOARD_COLUMNS = {
    "model": lambda r: r.name,
    "kind": lambda r: r.kind,
    "device": lambda r: r.device,
    "dtype": lambda r: r.dtype if r.runtime in ("torch", "n/a") else f"{r.dtype} ({r.runtime})",
    "accuracy [95% CI]": lambda r: fmt_interval(r.accuracy, r.accuracy_ci) + (f"; {r.stopped}" if r.stopped else ""),
    "macro-F1 [95% CI]": lambda r: fmt_interval(r.macro_f1, r.macro_f1_ci),
    "p50 ms": lambda r: fmt_number(r.p50_ms),
    "p95 ms": lambda r: fmt_number(r.p95_ms),
    "rows/s": lambda r: fmt_number(r.throughput_per_s, 1),
    "load s": lambda r: fmt_number(r.load_s),
    "memory MB": lambda r: fmt_number(r.memory_mb, 0),
    "parameters": lambda r: fmt_parameters(r.parameters),
    "cost / 1k": lambda r: fmt_cost(r.cost_per_1k),
    "rules / ensemble": lambda r: r.combines,
}


LONG_TEXT_HEADER = ["trial", "long-text strategy", "long rows", "accuracy on long rows [95% CI]", "rows that fit",
                    "accuracy on rows that fit [95% CI]"]


def long_text_cells(row: LongTextRow) -> list[str]:
    return [row.name, row.strategy, str(row.long_rows), fmt_interval(row.long_accuracy, row.long_accuracy_ci),
            str(row.short_rows), fmt_interval(row.short_accuracy, row.short_accuracy_ci)]


def leaderboard_cells(row: LeaderboardRow) -> list[str]:
    return [format_cell(row) for format_cell in LEADERBOARD_COLUMNS.values()]


def sample_facts(report: Report) -> list[tuple[str, str]]:
    data = report.run.dataset
    dropped = data.dropped
    columns = ", ".join(f"{role}: {name}" for role, name in data.columns.items() if name)
    return [
        ("source", data.source),
        ("rows evaluated", f"{data.rows:,}"),
        ("labels", f"{len(data.labels)}" + (" (multi-label)" if data.multi_label else "")),
        ("rows dropped", f"{dropped['total']} ({dropped['empty_text']} with empty text, {dropped['empty_label']} with an empty label)"),
        ("duplicate texts", str(data.duplicates)),
        ("columns", columns),
        ("encoding", data.encoding),
        ("content sha256", data.sha256),
    ]


def environment_facts(report: Report) -> list[tuple[str, str]]:
    env = report.run.environment
    facts = [("python", env.get("python", "")), ("platform", env.get("platform", ""))]
    facts += [(name, version) for name, version in env.get("libraries", {}).items()]
    facts += [(f"device {d.get('name', '')}", d.get("description", "")) for d in env.get("devices", [])]
    if env.get("torch_threads"):
        facts.append(("torch threads", str(env["torch_threads"])))
    return facts


def all_warnings(report: Report) -> list[str]:
    trials = [f"{row.name}: {warning}" for row in report.comparison.leaderboard for warning in row.warnings]
    return list(dict.fromkeys([*report.comparison.notes, *report.run.warnings, *trials, *report.run.dataset.warnings]))


def leaderboard_frame(report: Report) -> pd.DataFrame:
    """The leaderboard with raw numbers (no rounding), one row per trial, error rows included."""
    records = []
    for rank, row in enumerate(report.comparison.leaderboard, start=1):
        records.append({
            "rank": rank if row.ok else None, "name": row.name, "model": row.model, "kind": row.kind, "device": row.device,
            "dtype": row.dtype, "runtime": row.runtime, "status": row.status, "error": row.error, "accuracy": row.accuracy,
            "accuracy_low": row.accuracy_ci[0] if row.accuracy_ci else None,
            "accuracy_high": row.accuracy_ci[1] if row.accuracy_ci else None, "macro_f1": row.macro_f1,
            "macro_f1_low": row.macro_f1_ci[0] if row.macro_f1_ci else None,
            "macro_f1_high": row.macro_f1_ci[1] if row.macro_f1_ci else None, "p50_ms": row.p50_ms, "p95_ms": row.p95_ms,
            "throughput_per_s": row.throughput_per_s, "load_s": row.load_s, "memory_mb": row.memory_mb,
            "parameters": row.parameters, "size_mb": row.size_mb, "cost_per_1k": row.cost_per_1k,
            "pareto_front": row.on_front, "stopped_in_race": row.stopped, "coverage": row.coverage, "members": ";".join(row.members), "sha": row.sha, "settings": json.dumps(row.settings, ensure_ascii=False, sort_keys=True),
        })
    return pd.DataFrame.from_records(records).astype({"rank": "Int64", "parameters": "Int64"})


PREDICTION_COLUMNS = ["row", "text", "text_pair", "true_labels", "trial", "model", "kind", "device", "dtype",
                      "predicted", "score", "correct"]


def predictions_frame(report: Report) -> pd.DataFrame:
    return predictions_table(report.run, report.sample, report.comparison.names)


def predictions_table(run: RunResult, sample: LabeledSample | None, names: dict[str, str]) -> pd.DataFrame:
    """Every trial's prediction for every row (long format); the row's text and truth when the sample is known."""
    records = []
    for trial in run.results:
        for p in trial.predictions:
            record = {"row": p.row, "trial": names[trial.key], "model": trial.model, "kind": trial.kind,
                      "device": trial.device, "dtype": trial.dtype, "predicted": fmt_labels(p.labels), "score": p.score,
                      "correct": p.correct}
            if sample is not None:
                record.update(text=sample.texts[p.row], true_labels=fmt_labels(sample.labels[p.row]),
                              text_pair=sample.pairs[p.row] if sample.pairs else None)
            records.append(record)
    skipped = {"text", "text_pair", "true_labels"} if sample is None else set() if sample.pairs else {"text_pair"}
    return pd.DataFrame.from_records(records, columns=[c for c in PREDICTION_COLUMNS if c not in skipped])


#: Marks the most accurate trial on a slice (slices too small to rank have none).
LEADS = "★"


def slice_header(names: list[str]) -> list[str]:
    return ["slice", "rows", *names]


def slice_cells(row: SliceRow) -> list[str]:
    """One slice as formatted cells: its name, its rows, then each trial's accuracy [95% CI] and macro-F1."""
    name = row.label + (" (too few rows to rank)" if row.small else "")
    return [name, str(row.rows), *[fmt_slice_cell(cell, cell.key == row.leader) for cell in row.cells]]


def fmt_slice_cell(cell: SliceCell, leads: bool = False) -> str:
    if cell.accuracy is None:
        return ""
    text = (f"{LEADS} " if leads else "") + fmt_interval(cell.accuracy, cell.accuracy_ci)
    return text + ("" if cell.macro_f1 is None else f"; macro-F1 {cell.macro_f1:.3f}")


def slice_frame(report: Report) -> pd.DataFrame:
    """Every trial on every slice with raw numbers (long format: one row per slice x trial)."""
    comparison = report.comparison
    records = [
        {"slice_column": row.column, "slice": row.value, "rows": cell.rows, "too_small_to_rank": row.small,
         "trial": cell.name, "model": comparison.row(cell.key).model, "kind": comparison.row(cell.key).kind,
         "accuracy": cell.accuracy, "accuracy_low": cell.accuracy_ci[0] if cell.accuracy_ci else None,
         "accuracy_high": cell.accuracy_ci[1] if cell.accuracy_ci else None, "macro_f1": cell.macro_f1,
         "leads_slice": cell.key == row.leader}
        for row in comparison.slices.slices for cell in row.cells
    ]
    return pd.DataFrame.from_records(records, columns=SLICE_COLUMNS)


SLICE_COLUMNS = ["slice_column", "slice", "rows", "too_small_to_rank", "trial", "model", "kind", "accuracy", "accuracy_low",
                 "accuracy_high", "macro_f1", "leads_slice"]

"""The Markdown report: a compact summary to paste into a document or a pull request."""

from __future__ import annotations

import re

from core.compare import Comparison
from core.markdown import md
from core.report.model import Report, format_time
from core.report.tables import (
    LEADERBOARD_COLUMNS, LONG_TEXT_HEADER, all_warnings, fmt_labels, fmt_number, leaderboard_cells, long_text_cells,
    slice_cells, slice_header,
)


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]


def code_block(text: str, language: str = "") -> list[str]:
    """A fenced block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, text, fence]


def render_markdown(report: Report) -> str:
    """A compact summary to paste into a document or a pull request."""
    c, data = report.comparison, report.run.dataset
    lines = [f"# {md(report.title)}", ""]
    lines += [f"Run {md(report.run_date)}" + (f", by {md(report.options.author)}" if report.options.author else "")
              + f". Report generated {md(format_time(report.generated_at))}.", ""]
    labels = ", ".join(f"{md(label)} ({count})" for label, count in data.labels.items())
    lines += [f"**Sample:** {md(data.source)}, {data.rows} rows, {data.dropped['total']} dropped; labels: {labels}; "
              f"sha256 `{data.sha256}`.", ""]
    lines += ["## Recommendation", "", *[f"- {md(s)}" for s in c.recommendation.sentences], ""]
    rows = [leaderboard_cells(r) if r.ok else [r.name, r.kind, r.device, r.dtype, f"error: {r.error}"] + [""] * (len(LEADERBOARD_COLUMNS) - 5)
            for r in c.leaderboard]
    lines += ["## Leaderboard", "", *md_table(list(LEADERBOARD_COLUMNS), rows), ""]
    lines += ["## Paired tests", "", md(c.paired.sentence), ""]
    lines += _markdown_devices(c) + _markdown_slices(c) + _markdown_long_texts(c) + _markdown_errors(c)
    lines += _markdown_warnings(report)
    lines += ["## Reproduce", "", *code_block(report.reproduce, "bash")]
    if report.reproduce_note:
        lines += ["", md(report.reproduce_note)]
    return "\n".join(lines) + "\n"


def _markdown_devices(c: Comparison) -> list[str]:
    if not c.devices:
        return []
    rows = [[g.model, r.variant, fmt_number(r.p50_ms), f"{r.latency_speedup:.2f}x" if r.latency_speedup else "",
             "" if r.agreement is None else f"{r.agreement:.1%}"] for g in c.devices for r in g.rows]
    return ["## Devices and dtypes", "", *md_table(["model", "device, dtype, runtime", "p50 ms", "speed-up", "agreement"], rows), ""]


def _markdown_slices(c: Comparison) -> list[str]:
    table = c.slices
    if not table.slices:
        return []
    rows = [slice_cells(row) for row in table.slices]
    callouts = [*[f"- {md(s)}" for s in table.sentences], ""] if table.sentences else []
    return ["## Slices", "", *callouts, "Accuracy [95% CI] and macro-F1 of each trial on each slice; ★ leads the slice.", "",
            *md_table(slice_header(table.names), rows), ""]


def _markdown_long_texts(c: Comparison) -> list[str]:
    if not c.long_texts:
        return []
    return ["## Long texts", "", "Each model on the rows longer than its limit and on the rows that fit.", "",
            *md_table(LONG_TEXT_HEADER, [long_text_cells(row) for row in c.long_texts]), ""]


def _markdown_errors(c: Comparison) -> list[str]:
    lines = ["## Error examples", ""]
    if not c.errors.included:
        return lines + [md(c.errors.note), ""]
    for trial in c.errors.per_trial:
        shown = f"; the {len(trial.mistakes)} most confident mistakes:" if trial.mistakes else "."
        lines.append(f"**{md(trial.name)}**: {trial.wrong} of {c.run.dataset.rows} rows wrong{shown}")
        lines += [f"- row {e.row}: predicted {md(fmt_labels(e.predicted))} ({e.score:.2f}), true {md(fmt_labels(e.truth))}: "
                  f"\"{md(e.text)}\"" for e in trial.mistakes]
        lines.append("")
    return lines


def _markdown_warnings(report: Report) -> list[str]:
    warnings = all_warnings(report)
    return ["## Notes", "", *[f"- {md(w)}" for w in warnings], ""] if warnings else []

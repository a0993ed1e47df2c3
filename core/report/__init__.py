"""The comparison report: one `Report` model, rendered as HTML, PDF, CSV, JSON or Markdown.

`build_report` computes everything once (through `core.compare`); each `render_*` function
only lays it out. Everything that came from outside (labels, model ids, texts, card-like notes)
is escaped for the format it lands in: Jinja2 autoescaping for HTML (and so for the PDF printed
from it), backslash escapes for Markdown, and formula neutralization for CSV.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.files import check_output_path, write_atomically
from core.markdown import md
from core.report.html import INIT_JS, build_charts, content_security_policy, plotly_js, render_html, script_hash
from core.report.json_io import render_json, report_from_dict, report_to_dict, sample_from_rows
from core.report.markdown import code_block, md_table, render_markdown
from core.report.model import (
    FORMATS, Chart, Report, ReportError, ReportOptions, build_report, command_to_reproduce, format_time,
)
from core.report.pdf import find_chromium, render_pdf, run_chromium
from core.report.spreadsheet import neutralize, neutralize_frame, predictions_path, render_csv, slices_path
from core.report.tables import (
    LEADERBOARD_COLUMNS, all_warnings, environment_facts, leaderboard_cells, leaderboard_frame, predictions_frame,
    predictions_table, sample_facts, slice_cells, slice_frame, slice_header,
)

__all__ = [
    "FORMATS", "INIT_JS", "LEADERBOARD_COLUMNS", "Chart", "Report", "ReportError", "ReportOptions", "all_warnings",
    "build_charts", "build_report", "code_block", "content_security_policy", "environment_facts", "find_chromium",
    "format_time", "leaderboard_cells", "leaderboard_frame", "md", "md_table", "neutralize", "neutralize_frame",
    "plotly_js", "predictions_frame", "predictions_path", "predictions_table", "render_csv", "render_html",
    "render_json", "render_markdown", "render_pdf", "report_from_dict", "report_to_dict", "command_to_reproduce",
    "run_chromium", "sample_facts", "sample_from_rows", "script_hash", "slice_cells", "slice_frame", "slice_header",
    "slices_path", "write_report",
]


def write_report(report: Report, fmt: str, out: str | Path) -> list[Path]:
    """Write `report` as `fmt` to `out`; CSV also writes the predictions and the slices next to it. Returns the paths."""
    if fmt not in FORMATS:
        raise InputError(f"Unknown report format {fmt!r}.", hint=f"Pick one of: {', '.join(FORMATS)}.")
    out = check_output_path(out)
    if fmt == "csv":
        tables = render_csv(report)
        return [write_atomically(out, tables["leaderboard"]), write_atomically(predictions_path(out), tables["predictions"]),
                write_atomically(slices_path(out), tables["slices"])]
    if fmt == "pdf":
        return [write_atomically(out, render_pdf(report))]
    renderers = {"html": render_html, "json": render_json, "md": render_markdown}
    return [write_atomically(out, renderers[fmt](report))]

"""The comparison report: one `Report` model, rendered as HTML, PDF, CSV, JSON or Markdown.

`build_report` computes everything once (through `core.compare`); each `render_*` function
only lays it out. Everything that came from outside (labels, model ids, texts, card-like notes)
is escaped for the format it lands in: Jinja2 autoescaping for HTML (and so for the PDF printed
from it), backslash escapes for Markdown, and formula neutralization for CSV.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from core import charts
from core.compare import Comparison, LeaderboardRow, build_comparison
from core.dataset import ColumnMapping, DroppedRows, LabeledSample, content_hash
from core.errors import AppError, InputError
from core.files import check_output_path, write_atomically
from core.results import RunResult, run_from_dict, run_to_dict, validate

FORMATS = ("html", "pdf", "csv", "json", "md")
TEMPLATES = Path(__file__).resolve().parent / "templates"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_TIMEOUT_S = 180
#: Page width Chromium lays the charts out at before printing: fits A4 with 12 mm margins.
PDF_WINDOW = "720,1200"
#: Virtual time Chromium lets the page's scripts run (plotly drawing the charts) before it prints.
PDF_SCRIPT_BUDGET_MS = 15_000
LABEL_JOIN = ";"
#: The one script of the report besides plotly.js: draw every chart from its JSON block.
INIT_JS = (
    "(function(){var n=0,all=[];"
    "document.querySelectorAll('script[type=\"application/json\"][data-chart]').forEach(function(s){"
    "var f=JSON.parse(s.textContent);"
    "all.push(Plotly.newPlot(s.getAttribute('data-chart'),f.data,f.layout,"
    "{displaylogo:false,responsive:true}).then(function(){n+=1;}));});"
    "Promise.all(all).then(function(){document.body.setAttribute('data-charts-rendered',String(n));});})();"
)


class ReportError(AppError):
    """A report could not be produced in the format asked for."""


@dataclass(frozen=True)
class ReportOptions:
    """Choices that shape a report beyond the results themselves; stored in the report's JSON."""

    latency_budget_ms: float | None = None
    price_per_hour: dict[str, float] = field(default_factory=dict)
    author: str | None = None
    examples_per_model: int = 5


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    caption: str
    figure_json: str


@dataclass(frozen=True)
class Report:
    title: str
    run: RunResult
    sample: LabeledSample | None
    comparison: Comparison
    options: ReportOptions
    generated_at: str
    reproduce: str
    reproduce_note: str | None

    @property
    def run_date(self) -> str:
        return format_time(self.run.created_at)

    @property
    def generated_date(self) -> str:
        return format_time(self.generated_at)


def build_report(
    run: RunResult, *, sample: LabeledSample | None = None, options: ReportOptions | None = None,
    generated_at: str | None = None,
) -> Report:
    options = options or ReportOptions()
    comparison = build_comparison(
        run, sample=sample, latency_budget_ms=options.latency_budget_ms, price_per_hour=options.price_per_hour,
        examples_per_model=options.examples_per_model,
    )
    command, note = reproduce_command(run)
    return Report(
        title=f"Model comparison on {run.dataset.source or 'a labeled sample'}", run=run,
        sample=sample if comparison.errors.included else None, comparison=comparison, options=options,
        generated_at=generated_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        reproduce=command, reproduce_note=note,
    )


def format_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or "unknown"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- reproducing the run ---------------------------------------------------------------------


def reproduce_command(run: RunResult) -> tuple[str, str | None]:
    """The run's own command when it recorded one, else one rebuilt from its trials (with a note)."""
    if run.command:
        return run.command, None
    models = [t for t in run.results if not t.kind.startswith("baseline-")]
    args = ["--data", run.dataset.source or "SAMPLE.csv"]
    for name, value in (("--text-column", run.dataset.columns.get("text")), ("--label-column", run.dataset.columns.get("label")),
                        ("--text-pair-column", run.dataset.columns.get("text_pair"))):
        if value:
            args += [name, value]
    for model in dict.fromkeys(t.model for t in models):
        args += ["--model", model]
    args += _repeated("--device", [t.device for t in models]) + _repeated("--dtype", [t.dtype for t in models])
    args += _uniform_setting(models, "batch_size", "--batch-size") + _uniform_setting(models, "max_length", "--max-length")
    if not any(t.kind.startswith("baseline-") for t in run.results):
        args.append("--no-baselines")
    command = "python -m core evaluate " + " ".join(shlex.quote(str(a)) for a in args)
    return command, "The run did not record its command; this one was rebuilt from its trials. Check the settings per trial."


def _repeated(option: str, values: list[str]) -> list[str]:
    return [part for value in dict.fromkeys(values) for part in (option, value)]


def _uniform_setting(trials, key: str, option: str) -> list[str]:
    values = {t.settings.get(key) for t in trials if t.settings.get(key) is not None}
    return [option, str(values.pop())] if len(values) == 1 else []


# -- shared formatting -----------------------------------------------------------------------


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
    "dtype": lambda r: r.dtype,
    "accuracy [95% CI]": lambda r: fmt_interval(r.accuracy, r.accuracy_ci),
    "macro-F1 [95% CI]": lambda r: fmt_interval(r.macro_f1, r.macro_f1_ci),
    "p50 ms": lambda r: fmt_number(r.p50_ms),
    "p95 ms": lambda r: fmt_number(r.p95_ms),
    "rows/s": lambda r: fmt_number(r.throughput_per_s, 1),
    "load s": lambda r: fmt_number(r.load_s),
    "memory MB": lambda r: fmt_number(r.memory_mb, 0),
    "parameters": lambda r: fmt_parameters(r.parameters),
    "cost / 1k": lambda r: fmt_cost(r.cost_per_1k),
}


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


# -- HTML ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(number=fmt_number, interval=fmt_interval, parameters=fmt_parameters, cost=fmt_cost,
                       labels=fmt_labels, percent=lambda v: "" if v is None else f"{v:.1%}")
    return env


@lru_cache(maxsize=1)
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy() -> str:
    """Nothing may load from anywhere; only our two inline scripts (by hash) may run."""
    scripts = f"{script_hash(plotly_js())} {script_hash(INIT_JS)}"
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
    )


def figure_json(figure) -> str:
    """A figure as JSON that is safe inside a <script> element (no '<', '>' or '&')."""
    text = figure.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_charts(report: Report) -> list[Chart]:
    comparison = report.comparison
    figures = [
        ("accuracy-latency", "Accuracy against latency", "Each point is a trial; bars are 95% intervals. "
         "Trials joined by the dotted line are on the Pareto front: nothing else is both more accurate and faster.",
         charts.accuracy_latency_chart(comparison)),
        ("devices", "Devices and dtypes", "Speed-up of each device and dtype over the same model in float32 on the CPU, "
         "and the share of rows where its predictions agree.", charts.device_chart(comparison)),
        ("class-f1", "F1 per class", "Where each trial is strong or weak, label by label.", charts.class_f1_chart(comparison)),
        ("paired", "Paired tests", "Holm-adjusted p-values of McNemar's exact test for every two trials; "
         "dark cells are pairs that differ.", charts.paired_test_chart(comparison)),
        ("labels", "Rows per label", "The sample's label distribution.", charts.label_distribution_chart(report.run.dataset.labels)),
    ]
    trials = {t.key: t for t in report.run.results}
    for index, row in enumerate(comparison.ok_rows):
        figure = charts.confusion_chart(trials[row.key], row.name, titled=False)
        figures.append((f"confusion-{index}", row.name, "Rows: true label; columns: predicted label.", figure))
    return [Chart(cid, title, caption, figure_json(fig)) for cid, title, caption, fig in figures if fig is not None]


def render_html(report: Report) -> str:
    """One self-contained HTML file: plotly.js inlined once, every chart interactive, no network."""
    template = _environment().get_template("report.html.j2")
    chart_list = build_charts(report)
    return template.render(
        report=report, c=report.comparison, run=report.run, csp=content_security_policy(),
        plotly_js=Markup(plotly_js()), init_js=Markup(INIT_JS),
        charts={chart.id: chart for chart in chart_list}, confusion=[ch for ch in chart_list if ch.id.startswith("confusion-")],
        figure_json=lambda chart: Markup(chart.figure_json),
        columns=list(LEADERBOARD_COLUMNS), cells=leaderboard_cells, sample_facts=sample_facts(report),
        environment_facts=environment_facts(report), warnings=all_warnings(report),
        trials={t.key: t for t in report.run.results},
    )


# -- PDF -------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def render_pdf(report: Report, *, chromium: str | None = None, timeout_s: float = PDF_TIMEOUT_S) -> bytes:
    """The HTML report printed by headless Chromium, after its scripts have drawn the charts."""
    browser = chromium or find_chromium()
    if not browser:
        raise ReportError(
            "PDF export needs Chromium, and it is not installed on this machine.",
            hint="Install it (apt-get install -y chromium), or export HTML instead (--format html) and print that from a browser.",
        )
    with tempfile.TemporaryDirectory(prefix="msd-report-") as folder:
        page, pdf = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(render_html(report), encoding="utf-8")
        done = run_chromium(chromium_command(browser, page, pdf, Path(folder) / "profile"), timeout_s)
        if not pdf.is_file() or pdf.stat().st_size == 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ReportError(f"Chromium did not produce the PDF (exit code {done.returncode}: {detail[0][:300]}).",
                              hint="Export HTML instead (--format html) and print that from a browser.")
        return pdf.read_bytes()


def run_chromium(command: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Chromium in a process group of its own, so that a timeout stops its renderer and GPU
    children too, not just the first process."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ReportError(f"Chromium did not finish the PDF within {timeout_s:g} s and was stopped.",
                          hint="Try again when the server is less busy, or export HTML (--format html) and print that.") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def chromium_command(browser: str, page: Path, pdf: Path, profile: Path) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
        f"--user-data-dir={profile}", f"--window-size={PDF_WINDOW}", "--no-pdf-header-footer",
        f"--virtual-time-budget={PDF_SCRIPT_BUDGET_MS}", "--run-all-compositor-stages-before-draw",
        f"--print-to-pdf={pdf}", page.as_uri(),
    ]


# -- CSV -------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LEADING_CONTROL = re.compile(r"^[\x00-\x20\x7f]+")


def neutralize(value):
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading quote,
    also when control characters or spaces come first (some spreadsheets drop those on import,
    so '\x00=HYPERLINK(...)' would run).

    Numbers, and text that is just a number such as "-0.5", stay as they are.
    """
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        return value
    if not value.startswith(FORMULA_STARTS) and not _LEADING_CONTROL.sub("", value).startswith(FORMULA_STARTS):
        return value
    return "'" + value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = [neutralize(str(c)) for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(neutralize)
    return frame


def leaderboard_frame(report: Report) -> pd.DataFrame:
    """The leaderboard with raw numbers (no rounding), one row per trial, error rows included."""
    records = []
    for rank, row in enumerate(report.comparison.leaderboard, start=1):
        records.append({
            "rank": rank if row.ok else None, "name": row.name, "model": row.model, "kind": row.kind, "device": row.device,
            "dtype": row.dtype, "status": row.status, "error": row.error, "accuracy": row.accuracy,
            "accuracy_low": row.accuracy_ci[0] if row.accuracy_ci else None,
            "accuracy_high": row.accuracy_ci[1] if row.accuracy_ci else None, "macro_f1": row.macro_f1,
            "macro_f1_low": row.macro_f1_ci[0] if row.macro_f1_ci else None,
            "macro_f1_high": row.macro_f1_ci[1] if row.macro_f1_ci else None, "p50_ms": row.p50_ms, "p95_ms": row.p95_ms,
            "throughput_per_s": row.throughput_per_s, "load_s": row.load_s, "memory_mb": row.memory_mb,
            "parameters": row.parameters, "size_mb": row.size_mb, "cost_per_1k": row.cost_per_1k,
            "pareto_front": row.on_front, "sha": row.sha, "settings": json.dumps(row.settings, ensure_ascii=False, sort_keys=True),
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


def render_csv(report: Report) -> dict[str, str]:
    """Two tables: the leaderboard and the per-row predictions, cells neutralized for spreadsheets."""
    return {
        "leaderboard": neutralize_frame(leaderboard_frame(report)).to_csv(index=False, lineterminator="\n"),
        "predictions": neutralize_frame(predictions_frame(report)).to_csv(index=False, lineterminator="\n"),
    }


def predictions_path(out: Path) -> Path:
    return out.with_name(out.stem + ".predictions.csv")


# -- JSON ------------------------------------------------------------------------------------


def report_to_dict(report: Report) -> dict:
    """The full results under the schema, plus a `report` block so reading it back gives the same report."""
    data = run_to_dict(report.run)
    block = {
        "latency_budget_ms": report.options.latency_budget_ms, "price_per_hour": dict(report.options.price_per_hour),
        "author": report.options.author, "examples_per_model": report.options.examples_per_model,
        "generated_at": report.generated_at,
    }
    if report.sample is not None:
        block["sample_rows"] = {
            "texts": list(report.sample.texts), "pairs": list(report.sample.pairs) if report.sample.pairs else None,
            "labels": [list(labels) for labels in report.sample.labels],
        }
    data["report"] = block
    return data


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False)


def report_from_dict(data: dict) -> Report:
    """Read a results file or a JSON report back; a JSON report gives back the report it came from."""
    validate(data)
    run = run_from_dict(data)
    block = data.get("report") or {}
    options = ReportOptions(
        latency_budget_ms=block.get("latency_budget_ms"), price_per_hour=dict(block.get("price_per_hour") or {}),
        author=block.get("author"), examples_per_model=block.get("examples_per_model", ReportOptions.examples_per_model),
    )
    rows = block.get("sample_rows")
    sample = sample_from_rows(run, rows["texts"], rows.get("pairs"), rows["labels"]) if rows else None
    return build_report(run, sample=sample, options=options, generated_at=block.get("generated_at"))


def sample_from_rows(run: RunResult, texts: list[str], pairs: list[str] | None, labels: list[list[str]]) -> LabeledSample:
    """The evaluated sample rebuilt from its rows and the run's summary of it."""
    summary, label_rows = run.dataset, [tuple(row) for row in labels]
    return LabeledSample(
        texts=list(texts), labels=label_rows, label_set=list(summary.labels), columns=ColumnMapping(**summary.columns),
        pairs=list(pairs) if pairs is not None else None, multi_label=summary.multi_label,
        dropped=DroppedRows(summary.dropped["empty_text"], summary.dropped["empty_label"]), duplicates=summary.duplicates,
        warnings=list(summary.warnings), encoding=summary.encoding, source_name=summary.source,
        sha256=content_hash(list(texts), pairs, label_rows),
    )


# -- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def md(text) -> str:
    """Text from outside made literal in Markdown: no links, images, HTML, emphasis or table breaks."""
    flat = " ".join(str(text).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


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
    rows = [leaderboard_cells(r) if r.ok else [r.name, r.kind, r.device, r.dtype, f"error: {r.error}"] + [""] * 8
            for r in c.leaderboard]
    lines += ["## Leaderboard", "", *md_table(list(LEADERBOARD_COLUMNS), rows), ""]
    lines += ["## Paired tests", "", md(c.paired.sentence), ""]
    lines += _markdown_devices(c) + _markdown_errors(c) + _markdown_warnings(report)
    lines += ["## Reproduce", "", *code_block(report.reproduce, "bash")]
    if report.reproduce_note:
        lines += ["", md(report.reproduce_note)]
    return "\n".join(lines) + "\n"


def _markdown_devices(c: Comparison) -> list[str]:
    if not c.devices:
        return []
    rows = [[g.model, f"{r.device}, {r.dtype}", fmt_number(r.p50_ms), f"{r.latency_speedup:.2f}x" if r.latency_speedup else "",
             "" if r.agreement is None else f"{r.agreement:.1%}"] for g in c.devices for r in g.rows]
    return ["## Devices and dtypes", "", *md_table(["model", "device, dtype", "p50 ms", "speed-up", "agreement"], rows), ""]


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


# -- writing ---------------------------------------------------------------------------------


def write_report(report: Report, fmt: str, out: str | Path) -> list[Path]:
    """Write `report` as `fmt` to `out`; CSV also writes the predictions next to it. Returns the paths."""
    if fmt not in FORMATS:
        raise InputError(f"Unknown report format {fmt!r}.", hint=f"Pick one of: {', '.join(FORMATS)}.")
    out = check_output_path(out)
    if fmt == "csv":
        tables = render_csv(report)
        return [write_atomically(out, tables["leaderboard"]), write_atomically(predictions_path(out), tables["predictions"])]
    if fmt == "pdf":
        return [write_atomically(out, render_pdf(report))]
    renderers = {"html": render_html, "json": render_json, "md": render_markdown}
    return [write_atomically(out, renderers[fmt](report))]

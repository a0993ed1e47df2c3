"""core.report: one report model in five formats; hostile content stays inert; JSON round-trips; the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt
from markupsafe import escape

from core import report as report_module
from core.__main__ import main
from core.report import (
    LEADERBOARD_COLUMNS,
    FORMATS,
    ReportError,
    ReportOptions,
    build_report,
    neutralize,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    report_from_dict,
    write_report,
)
from core.results import validate, write_json
from tests.report_fixtures import HYPERLINK, IMG, SCRIPT, hostile_run, real_run

ROOT = Path(__file__).resolve().parent.parent
FIXED_TIME = "2025-02-03T04:05:06+00:00"


@pytest.fixture(scope="module")
def run_and_sample(synthetic_csv, trained_classifier, nli_model):
    return real_run(synthetic_csv, trained_classifier, nli_model)


@pytest.fixture(scope="module")
def real_report(run_and_sample):
    run, sample = run_and_sample
    options = ReportOptions(latency_budget_ms=50, price_per_hour={"cpu": 0.5}, author="Ada")
    return build_report(run, sample=sample, options=options, generated_at=FIXED_TIME)


@pytest.fixture(scope="module")
def evil_report():
    run, sample = hostile_run()
    return build_report(run, sample=sample, options=ReportOptions(author=IMG), generated_at=FIXED_TIME)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append([dict(attrs), ""])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self.scripts[-1][1] += data


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


#: What a compact Markdown summary may turn into: text structure, never links, images or raw HTML.
MARKDOWN_TAGS = {"h1", "h2", "p", "ul", "li", "strong", "em", "code", "pre", "table", "thead", "tbody", "tr", "th", "td"}


def render_markdown_as_html(markdown: str) -> str:
    """As a Markdown viewer with raw HTML allowed (the lenient case) would show it."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def section(markdown: str, title: str) -> str:
    return markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# -- content ---------------------------------------------------------------------------------


def test_html_report_has_every_section_and_number(real_report, run_and_sample):
    run, sample = run_and_sample
    html = render_html(real_report)
    comparison = real_report.comparison
    for text in ("Recommendation", "Sample", "Environment", "Leaderboard", "Paired tests", "Error examples", "Reproduce",
                 run.dataset.sha256, run.environment["libraries"]["torch"], run.environment["devices"][0]["description"],
                 "Run finished", "by Ada", comparison.paired.sentence, *comparison.recommendation.sentences, run.command):
        assert str(escape(text)) in html, text
    for row in comparison.leaderboard:
        assert row.name in html
        if row.ok:
            assert f"{row.accuracy:.3f} [{row.accuracy_ci[0]:.3f}, {row.accuracy_ci[1]:.3f}]" in html
    for label, count in run.dataset.labels.items():
        assert f"<td>{label}</td><td class=\"num\">{count}</td>" in html


def test_html_inlines_plotly_once_under_a_strict_policy(real_report):
    html = render_html(real_report)
    page = parse(html)
    runnable = [body for attrs, body in page.scripts if attrs.get("type") != "application/json"]
    assert len(runnable) == 2 and runnable[0] == report_module.plotly_js() and runnable[1] == report_module.INIT_JS
    assert html.count(report_module.plotly_js()[:200]) == 1
    policy = next(attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy and "unsafe-eval" not in policy
    script_src = policy.split("script-src ")[1].split(";")[0].split()
    assert sorted(script_src) == sorted([report_module.script_hash(body) for body in runnable])
    for tag, attrs in page.tags:
        assert not any(value and ("http://" in value or "https://" in value) for name, value in attrs.items() if name in ("src", "href")), tag
    charts = [attrs["data-chart"] for attrs, _ in page.scripts if attrs.get("type") == "application/json"]
    assert {"accuracy-latency", "devices", "class-f1", "paired", "labels"} <= set(charts)
    assert len([c for c in charts if c.startswith("confusion-")]) == len(real_report.comparison.ok_rows)


def test_markdown_is_a_compact_summary(real_report, run_and_sample):
    run, _ = run_and_sample
    text = render_markdown(real_report)
    table = [line for line in section(text, "Leaderboard").splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(run.results), "a header and one row per trial"
    assert "Most accurate:" in text and "## Reproduce" in text and run.dataset.sha256 in text
    assert "```bash\n" + run.command + "\n```" in text
    assert len(text) < 20_000


def test_csv_leaderboard_and_predictions_carry_the_run_numbers(real_report, run_and_sample):
    run, sample = run_and_sample
    tables = render_csv(real_report)
    board = pd.read_csv(io.StringIO(tables["leaderboard"]))
    trials = {t.key: t for t in run.results}
    assert len(board) == len(run.results)
    for record, row in zip(board.to_dict("records"), real_report.comparison.leaderboard):
        if row.ok:
            metrics = trials[row.key].metrics
            assert record["accuracy"] == pytest.approx(metrics.accuracy, abs=1e-12)
            assert record["macro_f1_low"] == pytest.approx(metrics.macro_f1_ci[0], abs=1e-12)
            assert record["cost_per_1k"] == pytest.approx(0.5 / 3600 / trials[row.key].latency.throughput_per_s * 1000)
        else:
            assert record["status"] == "error" and pd.isna(record["accuracy"])
    predictions = pd.read_csv(io.StringIO(tables["predictions"]), keep_default_na=False)
    assert len(predictions) == sum(len(t.predictions) for t in run.results)
    first = predictions.iloc[0]
    assert first["text"] == sample.texts[first["row"]] and first["true_labels"] == sample.labels[first["row"]][0]
    assert set(predictions["correct"].astype(str)) <= {"True", "False"}


# -- hostile content ----------------------------------------------------------------------------


def test_hostile_content_is_inert_in_html(evil_report):
    html = render_html(evil_report)
    page = parse(html)
    assert [tag for tag, _ in page.tags if tag in ("img", "a", "iframe", "object", "embed", "form")] == []
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert len([1 for attrs, _ in page.scripts if attrs.get("type") != "application/json"]) == 2
    for attrs, body in page.scripts:
        if attrs.get("type") == "application/json":
            assert "<" not in body and ">" not in body and "&" not in body
            json.loads(body)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert str(escape(IMG)) in html
    assert "javascript:" not in " ".join(v or "" for _, attrs in page.tags for v in attrs.values())


def test_hostile_content_is_inert_in_chart_text(evil_report):
    from core import charts

    figure = charts.accuracy_latency_chart(evil_report.comparison)
    texts = [t for trace in figure.data if trace.text is not None for t in trace.text]
    assert texts and all("<" not in t for t in texts)
    assert any("&lt;script&gt;" in t for t in texts)
    heatmap = charts.class_f1_chart(evil_report.comparison)
    assert all("<" not in label for label in heatmap.data[0].x)


def test_hostile_content_is_inert_in_markdown(evil_report):
    text = render_markdown(evil_report)
    rendered = render_markdown_as_html(text)
    assert {tag for tag, _ in parse(rendered).tags} <= MARKDOWN_TAGS
    assert all(set(attrs) <= {"class"} for _, attrs in parse(rendered).tags), "no links, images or handlers"
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in rendered, "the text is shown, as text"
    table = [line for line in section(text, "Leaderboard").splitlines() if line.startswith("| ")]
    cells = {len(re.findall(r"(?<!\\)\|", line)) - 1 for line in table}  # unescaped pipes between cells
    assert cells == {len(LEADERBOARD_COLUMNS)}, "a '|' in a label does not add cells"


def test_hostile_content_is_neutralized_in_csv(evil_report):
    tables = render_csv(evil_report)
    for name, text in tables.items():
        for row in csv.reader(io.StringIO(text)):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, cell)
                if cell.startswith("-"):
                    float(cell)  # only real numbers may start with '-'
    predictions = pd.read_csv(io.StringIO(tables["predictions"]), keep_default_na=False)
    assert "'" + HYPERLINK in set(predictions["model"]) and "'" + HYPERLINK in set(predictions["true_labels"])
    assert "-1" in set(predictions["true_labels"].astype(str)), "a label that is a number stays a number"
    assert -0.5 in set(predictions["score"]) and predictions["score"].dtype == float
    assert SCRIPT in set(predictions["true_labels"]), "markup is plain text in a CSV, kept as it is"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("=1+1", "'=1+1"), ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("-0.5", "-0.5"), ("+3", "+3"), ("-1e-3", "-1e-3"), (-0.5, -0.5), (7, 7), (None, None), ("plain", "plain"), ("a=b", "a=b"),
     # audit item 15: control characters or spaces before the formula
     ("\x00=HYPERLINK(\"http://x\")", "'\x00=HYPERLINK(\"http://x\")"), ("\x1b@SUM(A1)", "'\x1b@SUM(A1)"), (" =1+1", "' =1+1"),
     ("\x00plain", "\x00plain")],
)
def test_neutralize_keeps_numbers_and_defuses_formulas(cell, expected):
    assert neutralize(cell) == expected


# -- JSON ------------------------------------------------------------------------------------


def test_json_report_validates_and_reads_back_as_the_same_report(real_report):
    data = json.loads(render_json(real_report))
    validate(data)
    again = report_from_dict(data)
    assert again.options == real_report.options and again.generated_at == FIXED_TIME
    assert again.comparison.errors == real_report.comparison.errors
    assert render_html(again) == render_html(real_report)
    assert render_markdown(again) == render_markdown(real_report)
    assert render_csv(again) == render_csv(real_report)


def test_hostile_json_round_trips(evil_report):
    again = report_from_dict(json.loads(render_json(evil_report)))
    assert render_markdown(again) == render_markdown(evil_report)
    assert again.run.results[0].model == evil_report.run.results[0].model


# -- the command line --------------------------------------------------------------------------


def test_cli_writes_each_format_from_a_results_file(tmp_path, run_and_sample, synthetic_csv, capsys):
    run, _ = run_and_sample
    results = write_json(run, tmp_path / "results.json")
    for fmt in ("md", "json", "csv", "html"):
        out = tmp_path / f"report.{fmt}"
        assert main(["report", str(results), "--out", str(out), "--data", str(synthetic_csv), "--by", "Ada",
                     "--price-per-hour", "cpu=0.5", "--latency-budget-ms", "50"]) == 0
        assert out.stat().st_size > 0
    assert (tmp_path / "report.predictions.csv").is_file()
    markdown = (tmp_path / "report.md").read_text()
    assert "most confident mistakes" in markdown and "by Ada" in markdown and "latency budget of 50 ms" in markdown
    from_json = tmp_path / "again.md"
    assert main(["report", str(tmp_path / "report.json"), "--out", str(from_json), "--by", "Ada"]) == 0
    assert from_json.read_text().split("\n", 3)[3] == markdown.split("\n", 3)[3], "the JSON report reads back the same"
    assert "wrote" in capsys.readouterr().out


def test_cli_names_a_mismatched_sample(tmp_path, run_and_sample, example_csv, capsys):
    run, _ = run_and_sample
    results = write_json(run, tmp_path / "results.json")
    assert main(["report", str(results), "--format", "md", "--out", str(tmp_path / "r.md"), "--data", str(example_csv)]) == 0
    assert "is not the one this run evaluated" in capsys.readouterr().err
    assert "is not the one this run evaluated" in (tmp_path / "r.md").read_text()


def test_cli_bad_input_exits_2_with_a_sentence(tmp_path, capsys):
    assert main(["report", "no-such-run", "--out", str(tmp_path / "r.md")]) == 2
    assert "neither a results file nor a stored run id" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema_version": 1}))
    assert main(["report", str(broken), "--out", str(tmp_path / "r.md")]) == 2
    assert "does not follow the results schema" in capsys.readouterr().err
    assert main(["report", str(broken), "--out", str(tmp_path / "r.txt")]) == 2
    assert "cannot be told from" in capsys.readouterr().err


def test_pdf_without_chromium_says_so_and_offers_html(evil_report, monkeypatch, tmp_path):
    monkeypatch.setattr("core.report.pdf.find_chromium", lambda: None)  # where render_pdf looks it up
    with pytest.raises(ReportError) as raised:
        write_report(evil_report, "pdf", tmp_path / "r.pdf")
    assert "needs Chromium" in raised.value.sentence and "--format html" in raised.value.sentence
    assert not (tmp_path / "r.pdf").exists()


def test_a_pdf_past_its_timeout_is_a_sentence_and_leaves_no_browser_process(evil_report, tmp_path):
    """Audit item 12: a raw TimeoutExpired, and the browser's child left running."""
    child_pid = tmp_path / "child.pid"
    slow_browser = tmp_path / "slow-chromium"
    slow_browser.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {child_pid}\nsleep 300\n")
    slow_browser.chmod(0o755)
    with pytest.raises(ReportError) as raised:
        report_module.render_pdf(evil_report, chromium=str(slow_browser), timeout_s=2)
    assert raised.value.sentence.startswith("Chromium did not finish the PDF within 2 s and was stopped.")
    pid = int(child_pid.read_text())
    deadline = time.monotonic() + 10
    while running(pid):
        assert time.monotonic() < deadline, "the browser's child process still runs"
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child waits for its parent, here init, to reap it)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def test_cli_reports_a_stored_run_with_its_rows(tmp_path, run_and_sample, monkeypatch):
    from core.store import Store

    run, sample = run_and_sample
    monkeypatch.setenv("MSD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    run_id = Store().save_completed_run(sample, [{"kind": t.kind, "model": t.model} for t in run.results], run)
    out = tmp_path / "stored.md"
    assert main(["report", run_id, "--out", str(out)]) == 0
    text = out.read_text()
    assert "most confident mistakes" in text and run.dataset.sha256 in text


def test_cli_in_a_subprocess_as_users_run_it(tmp_path):
    run, _ = hostile_run()
    results = write_json(run, tmp_path / "results.json")
    done = subprocess.run([sys.executable, "-m", "core", "report", str(results), "--format", "md", "--out", str(tmp_path / "r.md")],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {tmp_path / 'r.md'}"
    rendered = render_markdown_as_html((tmp_path / "r.md").read_text())
    assert {tag for tag, _ in parse(rendered).tags} <= MARKDOWN_TAGS
    assert str(escape(SCRIPT)) in rendered


def test_charts_keep_number_like_labels_as_categories():
    from core import charts
    from core.compare import build_comparison
    from tests.report_fixtures import make_run, make_sample, make_trial

    truth = ["-1", "0", "1"] * 4
    sample = make_sample([f"t{i}" for i in range(12)], truth)
    run = make_run(sample, [make_trial("org/m", sample, truth[:6] + ["0"] * 6), make_trial("org/n", sample, ["1"] * 12)])
    comparison = build_comparison(run)
    heatmap = charts.class_f1_chart(comparison)
    assert heatmap.layout.xaxis.type == "category" and list(heatmap.data[0].x) == ["-1", "0", "1"]
    confusion = charts.confusion_chart(run.results[0])
    assert confusion.layout.xaxis.type == confusion.layout.yaxis.type == "category"
    assert [list(row) for row in confusion.data[0].z] == run.results[0].metrics.confusion_matrix
    bars = charts.label_distribution_chart({"<b>x</b>": 3, "-1": 2})
    assert list(bars.data[0].y) == ["&lt;b&gt;x&lt;/b&gt;", "-1"] and list(bars.data[0].x) == [3, 2]


@pytest.mark.parametrize("ok_trials", [0, 1, 2])
def test_every_format_renders_runs_with_zero_one_or_more_ok_trials(ok_trials, tmp_path):
    """Audit item 8: one successful model crashed HTML and PDF ('dict object' has no attribute 'paired'),
    none crashed them on 'class-f1'. Evaluating one model is common."""
    import shutil

    from tests.report_fixtures import error_trial, make_run, make_sample, make_trial, with_accuracy

    truth = ["bug", "feature", "question"] * 8
    sample = make_sample([f"row {i}" for i in range(24)], truth)
    trials = [make_trial(f"org/model-{i}", sample, with_accuracy(truth, 20 - 4 * i, "bug", offset=i)) for i in range(ok_trials)]
    report = build_report(make_run(sample, trials + [error_trial("org/broken", "Could not load it.")]), sample=sample)
    formats = [f for f in FORMATS if f != "pdf" or shutil.which("chromium")]
    for fmt in formats:
        written = write_report(report, fmt, tmp_path / f"report-{ok_trials}.{fmt}")
        assert written and all(path.stat().st_size > 0 for path in written), fmt
    html = render_html(report)
    assert "org/broken" in html and "Could not load it." in html
    assert ("org/model-0" in html) == (ok_trials > 0)

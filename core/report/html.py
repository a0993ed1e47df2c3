"""The HTML report: one self-contained file, Jinja2 autoescaping everything from outside, plotly.js
inlined once, and a Content-Security-Policy that lets only our two scripts run.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from core import charts
from core.report.model import Chart, Report
from core.report.tables import (
    LEADERBOARD_COLUMNS, LONG_TEXT_HEADER, all_warnings, environment_facts, fmt_cost, fmt_interval, fmt_labels,
    fmt_number, fmt_parameters, leaderboard_cells, long_text_cells, sample_facts, slice_cells, slice_header,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
#: The one script of the report besides plotly.js: draw every chart from its JSON block.
INIT_JS = (
    "(function(){var n=0,all=[];"
    "document.querySelectorAll('script[type=\"application/json\"][data-chart]').forEach(function(s){"
    "var f=JSON.parse(s.textContent);"
    "all.push(Plotly.newPlot(s.getAttribute('data-chart'),f.data,f.layout,"
    "{displaylogo:false,responsive:true}).then(function(){n+=1;}));});"
    "Promise.all(all).then(function(){document.body.setAttribute('data-charts-rendered',String(n));});})();"
)


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
        ("devices", "Devices and dtypes", "Speed-up of each device, dtype and runtime over the same model in torch float32 on the CPU, "
         "and the share of rows where its predictions agree.", charts.device_chart(comparison)),
        ("class-f1", "F1 per class", "Where each trial is strong or weak, label by label.", charts.class_f1_chart(comparison)),
        ("paired", "Paired tests", "Holm-adjusted p-values of McNemar's exact test for every two trials; "
         "dark cells are pairs that differ.", charts.paired_test_chart(comparison)),
        ("slice-accuracy", "Accuracy per slice", "Each trial's accuracy on each slice of the sample (a value of a column chosen "
         "to slice by, or a quartile of text length in tokens), the whole sample on top; the star marks the slice's "
         "leader, grey cells slices too small to rank.", charts.slice_chart(comparison)),
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
        slice_header=slice_header(report.comparison.slices.names), slice_cells=slice_cells,
        long_text_header=LONG_TEXT_HEADER, long_text_cells=long_text_cells,
    )

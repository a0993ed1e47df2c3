"""Plotly figures of a comparison, shared by the dashboard's pages and the report.

Plotly renders text (tick labels, legend names, hover text, titles) through its own small
HTML-like markup, so every label and model id that came from outside goes through `safe`
first: `<b>`, `<a href=...>` and friends then show as the characters they are. Axes of labels
are categorical even when the labels look like numbers ("-1", "0", "1").
"""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go

from core.compare import Comparison, SliceCell, SliceRow
from core.results import TrialResult

TEMPLATE = "plotly_white"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
FRONT_COLOR, OTHER_COLOR, BASELINE_COLOR = "#1f6feb", "#8b949e", "#d29922"
#: Background that shows through cells left empty: slices too small to rank.
SMALL_SLICE_COLOR = "#d0d7de"
ROW_HEIGHT_PX = 28
#: One color per fold of a fine-tune trial (plotly's default qualitative colors).
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52")


def safe(value) -> str:
    """Text from outside made literal for plotly's markup (it decodes &lt; &gt; &amp; back for display)."""
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str, *, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"}, template=TEMPLATE, height=height,
        font={"family": FONT, "size": 12}, margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def accuracy_latency_chart(comparison: Comparison) -> go.Figure:
    """Accuracy (with its 95% interval) against p50 latency per row; the Pareto front joined by a line."""
    rows = [r for r in comparison.ok_rows if r.p50_ms is not None]
    fig = go.Figure()
    groups = (
        ("Pareto front", [r for r in rows if r.on_front and not r.baseline], FRONT_COLOR, "circle"),
        ("other models", [r for r in rows if not r.on_front and not r.baseline], OTHER_COLOR, "circle"),
        ("baselines", [r for r in rows if r.baseline], BASELINE_COLOR, "diamond"),
    )
    for label, members, color, symbol in groups:
        if members:
            fig.add_trace(_accuracy_points(label, members, color, symbol))
    front = sorted((r for r in rows if r.on_front), key=lambda r: r.p50_ms)
    if len(front) > 1:
        fig.add_trace(go.Scatter(
            x=[r.p50_ms for r in front], y=[r.accuracy for r in front], mode="lines", name="front",
            line={"color": FRONT_COLOR, "dash": "dot", "shape": "hv"}, hoverinfo="skip", showlegend=False,
        ))
    latencies = [r.p50_ms for r in rows if r.p50_ms and r.p50_ms > 0]
    log_x = bool(latencies) and max(latencies) / min(latencies) > 20
    fig.update_xaxes(title="p50 latency per row (ms)" + (", log scale" if log_x else ""), type="log" if log_x else "linear")
    fig.update_yaxes(title="accuracy", tickformat=".0%")
    return _layout(fig, "Accuracy against latency (up and to the left is better)", height=460)


def _accuracy_points(label: str, rows, color: str, symbol: str) -> go.Scatter:
    return go.Scatter(
        x=[r.p50_ms for r in rows], y=[r.accuracy for r in rows], mode="markers+text", name=label,
        text=[safe(r.name) for r in rows], textposition="top center", cliponaxis=False,
        marker={"color": color, "size": 11, "symbol": symbol},
        error_y={
            "type": "data", "symmetric": False, "color": color, "thickness": 1,
            "array": [r.accuracy_ci[1] - r.accuracy for r in rows],
            "arrayminus": [r.accuracy - r.accuracy_ci[0] for r in rows],
        },
        customdata=[[r.accuracy_ci[0], r.accuracy_ci[1], r.p95_ms, r.throughput_per_s] for r in rows],
        hovertemplate=(
            "%{text}<br>accuracy %{y:.3f} (95% CI %{customdata[0]:.3f} to %{customdata[1]:.3f})"
            "<br>p50 %{x:.2f} ms, p95 %{customdata[2]:.2f} ms<br>%{customdata[3]:.1f} rows/s<extra></extra>"
        ),
    )


def device_chart(comparison: Comparison) -> go.Figure | None:
    """Per model run on several devices/dtypes: speed-up over its reference, with agreement in the hover."""
    if not comparison.devices:
        return None
    fig = go.Figure()
    variants = sorted({row.variant for group in comparison.devices for row in group.rows})
    for variant in variants:
        cells = [(g, next((r for r in g.rows if r.variant == variant), None)) for g in comparison.devices]
        cells = [(g, r) for g, r in cells if r is not None]
        fig.add_trace(go.Bar(
            name=safe(variant), x=[safe(g.model) for g, _ in cells],
            y=[r.latency_speedup for _, r in cells],
            text=[_device_label(r) for _, r in cells], textposition="outside",
            customdata=[[safe(g.reference_name), r.p50_ms, r.throughput_per_s, r.accuracy] for g, r in cells],
            hovertemplate=(
                "%{x}<br>" + safe(variant) + ": %{y:.2f}x the speed of %{customdata[0]}"
                "<br>p50 %{customdata[1]:.2f} ms, %{customdata[2]:.1f} rows/s, accuracy %{customdata[3]:.3f}<extra></extra>"
            ),
        ))
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(title="speed-up of p50 latency (reference = 1)")
    return _layout(fig, "Devices, dtypes and runtimes of the same model: speed-up and agreement with torch float32")


def _device_label(row) -> str:
    speed = f"{row.latency_speedup:.2f}x" if row.latency_speedup is not None else "n/a"
    agree = f"{row.agreement:.0%} agree" if row.agreement is not None else "agreement n/a"
    return f"{speed}, {agree}"


def class_f1_chart(comparison: Comparison) -> go.Figure | None:
    """Per-class F1 as a heatmap: one row per successful trial, one column per label."""
    matrix = comparison.class_f1
    if not matrix.keys or not matrix.labels:
        return None
    fig = go.Figure(go.Heatmap(
        z=matrix.f1, x=[safe(label) for label in matrix.labels], y=[safe(name) for name in matrix.names],
        zmin=0, zmax=1, colorscale="Blues", colorbar={"title": "F1"},
        text=[[_fmt(v, ".2f") for v in row] for row in matrix.f1], texttemplate="%{text}",
        hovertemplate="%{y}<br>label %{x}: F1 %{z:.3f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="label", type="category")
    return _layout(fig, "F1 per class", height=_rows_height(len(matrix.keys)))


def confusion_chart(trial: TrialResult, name: str | None = None, *, titled: bool = True) -> go.Figure | None:
    """Counts of true label (rows) against predicted label (columns) for one trial."""
    if trial.metrics is None:
        return None
    labels = [safe(label) for label in trial.metrics.confusion_labels]
    matrix = trial.metrics.confusion_matrix
    multi = trial.metrics.multi_label
    fig = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, colorscale="Blues", showscale=False,
        text=matrix, texttemplate="%{text}",
        hovertemplate="true %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>",
    ))
    fig.update_yaxes(title="true label", autorange="reversed", type="category")
    fig.update_xaxes(title="predicted label" + (" (label co-occurrence, multi-label)" if multi else ""), side="bottom", type="category")
    title = "Confusion matrix: " + safe(name or trial.key) if titled else ""
    return _layout(fig, title, height=_rows_height(len(labels), minimum=300))


def loss_curve_chart(trial: TrialResult, name: str | None = None) -> go.Figure | None:
    """A fine-tune trial's loss per fold against epochs: training (lines) and validation (dashed, markers)."""
    if not trial.training:
        return None
    fig = go.Figure()
    for fold in trial.training:
        color = PALETTE[(fold.fold - 1) % len(PALETTE)]
        fig.add_trace(go.Scatter(x=[e for e, _ in fold.losses], y=[loss for _, loss in fold.losses], mode="lines",
                                 name=f"fold {fold.fold} training", line={"color": color, "width": 1.5}))
        fig.add_trace(go.Scatter(x=[e for e, _ in fold.validation_losses], y=[loss for _, loss in fold.validation_losses],
                                 mode="lines+markers", name=f"fold {fold.fold} validation",
                                 line={"color": color, "dash": "dash"}))
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="loss")
    return _layout(fig, "Fine-tuning loss per fold: " + safe(name or trial.key), height=380)


def learning_curve_chart(comparison: Comparison) -> go.Figure | None:
    """Accuracy against the rows learned from, per trial with a learning curve: measured points with
    their intervals, then the fitted power law's projection (dashed, open markers: an extrapolation)."""
    curves = [(t, t.learning_curve) for t in comparison.run.succeeded if t.learning_curve is not None]
    if not curves:
        return None
    fig = go.Figure()
    for index, (trial, curve) in enumerate(curves):
        color, name = PALETTE[index % len(PALETTE)], safe(comparison.names[trial.key])
        measured = curve.measured
        fig.add_trace(go.Scatter(
            x=[p.train_rows for p in measured], y=[p.accuracy for p in measured], mode="lines+markers", name=name,
            line={"color": color}, error_y={"type": "data", "symmetric": False,
                                            "array": [p.accuracy_ci[1] - p.accuracy for p in measured],
                                            "arrayminus": [p.accuracy - p.accuracy_ci[0] for p in measured]},
            hovertemplate="%{x:.0f} rows: accuracy %{y:.3f}<extra>" + name + "</extra>"))
        projected = [measured[-1], *[p for p in curve.points if p.extrapolated]]
        if len(projected) > 1:
            fig.add_trace(go.Scatter(
                x=[p.train_rows for p in projected], y=[p.accuracy for p in projected], mode="lines+markers",
                name=f"{name} (extrapolated)", line={"color": color, "dash": "dash"},
                marker={"symbol": "circle-open", "size": 9},
                hovertemplate="%{x:.0f} rows: projected %{y:.3f} (extrapolation)<extra>" + name + "</extra>"))
    fig.update_xaxes(title="labeled rows a model learns from (per fold)")
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    return _layout(fig, "Would more labels help? Measured (solid) and extrapolated (dashed, a power-law fit)")


def paired_test_chart(comparison: Comparison) -> go.Figure | None:
    """Holm-adjusted McNemar p-values for every two trials; dark cells are real differences."""
    paired = comparison.paired
    if len(paired.keys) < 2:
        return None
    names = [safe(name) for name in paired.names]
    text = [["" if p is None else f"p={p:.3g}" for p in row] for row in paired.p_holm]
    fig = go.Figure(go.Heatmap(
        z=[[None if p is None else -math.log10(max(p, 1e-12)) for p in row] for row in paired.p_holm],
        x=names, y=names, text=text, texttemplate="%{text}", colorscale="Reds", zmin=0, zmax=3,
        colorbar={"title": "-log10 p", "tickvals": [0, 1.301, 2, 3], "ticktext": ["1", "0.05", "0.01", "0.001"]},
        hovertemplate="%{y} vs %{x}<br>Holm-adjusted %{text}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return _layout(fig, "Paired tests (McNemar, Holm-adjusted): p < 0.05 means the two differ", height=_rows_height(len(names)))


def slice_chart(comparison: Comparison) -> go.Figure | None:
    """Accuracy per slice (rows, "column: value") and trial (columns), the whole sample on top. Each cell
    shows its accuracy and rows; a star marks the slice's leader; slices too small to rank are grey."""
    table = comparison.slices
    if not table.slices or not table.keys:
        return None
    overall = [comparison.row(key) for key in table.keys]
    whole = [SliceCell(r.key, r.name, comparison.run.dataset.rows, r.accuracy, r.accuracy_ci, r.macro_f1) for r in overall]
    lines = [(f"all rows ({comparison.run.dataset.rows})", whole, False, None)]
    lines += [(_slice_label(row), [row.cell(key) for key in table.keys], row.small, row.leader) for row in table.slices]
    fig = go.Figure(go.Heatmap(
        z=[[None if small else cell.accuracy for cell in cells] for _, cells, small, _ in lines],
        x=[safe(name) for name in table.names], y=[safe(label) for label, *_ in lines], zmin=0, zmax=1,
        colorscale="Blues", colorbar={"title": "accuracy"}, xgap=1, ygap=1,
        text=[[_slice_cell_text(cell, cell.key == leader) for cell in cells] for _, cells, _, leader in lines],
        texttemplate="%{text}", customdata=[[_slice_hover(cell) for cell in cells] for _, cells, *_ in lines],
        hovertemplate="%{y}<br>%{x}<br>%{customdata}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    fig.update_layout(plot_bgcolor=SMALL_SLICE_COLOR)
    title = f"Accuracy per slice (★ leads the slice; grey: under {table.min_rows} rows, not ranked)"
    return _layout(fig, title, height=_rows_height(len(lines)))


def _slice_label(row: SliceRow) -> str:
    return f"{row.label} ({row.rows}{', too few to rank' if row.small else ''})"


def _slice_cell_text(cell: SliceCell, leads: bool) -> str:
    if cell.accuracy is None:
        return ""
    return f"{'★ ' if leads else ''}{cell.accuracy:.2f} (n={cell.rows})"


def _slice_hover(cell: SliceCell) -> str:
    if cell.accuracy is None:
        return "no predictions on these rows"
    low, high = cell.accuracy_ci
    f1 = "" if cell.macro_f1 is None else f", macro-F1 {cell.macro_f1:.3f}"
    return f"accuracy {cell.accuracy:.3f} (95% CI {low:.3f} to {high:.3f}) on {cell.rows} rows{f1}"


def label_distribution_chart(counts: dict[str, int]) -> go.Figure:
    """How many rows carry each label."""
    labels = list(counts)
    fig = go.Figure(go.Bar(
        x=[counts[label] for label in labels], y=[safe(label) for label in labels], orientation="h",
        text=[counts[label] for label in labels], textposition="auto", marker={"color": FRONT_COLOR},
        hovertemplate="%{y}: %{x} rows<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title="label", type="category")
    fig.update_xaxes(title="rows")
    return _layout(fig, "Rows per label", height=_rows_height(len(labels), minimum=220))


def _rows_height(rows: int, *, minimum: int = 260) -> int:
    return max(minimum, 140 + ROW_HEIGHT_PX * rows)


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)

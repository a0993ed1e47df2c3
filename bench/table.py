"""Benchmark results as typed rows, and the markdown tables printed and recorded."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class SpeedRow:
    """One method on one workload. `ratio` = this method's median seconds / the reference's.

    For baselines and bounds the reference is the engine, so the ratio is the engine's
    speed-up over the baseline, or the engine's fraction of the bound. For precision
    variants the row is the numerator's inverse: float32 seconds / this dtype's seconds.
    """

    section: str
    model: str
    method: str
    texts: int
    inputs: int  # model inputs per pass: texts, or (text, hypothesis) pairs
    seconds: float
    ratio: float | None = None
    target: float | None = None
    agreement: float | None = None
    agreement_target: float | None = None
    note: str = ""

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds if self.seconds > 0 else math.nan

    @property
    def met(self) -> bool | None:
        if self.target is None and self.agreement_target is None:
            return None
        speed_ok = self.target is None or (self.ratio is not None and self.ratio >= self.target)
        agree_ok = self.agreement_target is None or (self.agreement is not None and self.agreement >= self.agreement_target)
        return speed_ok and agree_ok


@dataclass
class MemoryRow:
    section: str  # "scale" or "models"
    label: str
    rows: int
    texts_per_s: float | None
    peak_rss_mb: float
    trial_memory_mb: float | None
    repeats: int = 1
    note: str = ""


@dataclass
class BenchResult:
    machine: dict = field(default_factory=dict)
    speed: list[SpeedRow] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)
    breakdowns: dict[str, dict[str, float]] = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:,.{digits}f}"


def _met(row: SpeedRow) -> str:
    return {None: "", True: "met", False: "NOT met"}[row.met]


def _target(row: SpeedRow) -> str:
    parts = []
    if row.target is not None:
        parts.append(f">= {row.target:g}")
    if row.agreement_target is not None:
        parts.append(f"agree >= {row.agreement_target:.0%}")
    return ", ".join(parts)


def speed_table(rows: list[SpeedRow], *, ratio_title: str) -> list[str]:
    lines = [
        f"| model | method | texts (inputs) | median s | texts/s | {ratio_title} | target | | agreement | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        inputs = f"{r.texts}" if r.inputs == r.texts else f"{r.texts} ({r.inputs})"
        agreement = "" if r.agreement is None else f"{r.agreement:.1%}"
        lines.append(
            f"| {r.model} | {r.method} | {inputs} | {_num(r.seconds, 3)} | {_num(r.texts_per_s, 1)} | {_num(r.ratio)} "
            f"| {_target(r)} | {_met(r)} | {agreement} | {r.note} |"
        )
    return lines


def memory_table(rows: list[MemoryRow]) -> list[str]:
    lines = [
        "| what | rows | texts/s | peak RSS MB | trial memory MB | repeats | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.label} | {r.rows:,} | {_num(r.texts_per_s, 1)} | {_num(r.peak_rss_mb, 0)} | {_num(r.trial_memory_mb, 0)} "
            f"| {r.repeats} | {r.note} |"
        )
    return lines


def breakdown_table(breakdowns: dict[str, dict[str, float]]) -> list[str]:
    keys = list(dict.fromkeys(k for b in breakdowns.values() for k in b))
    lines = ["| | " + " | ".join(breakdowns) + " |", "|---|" + "---|" * len(breakdowns)]
    for key in keys:
        cells = []
        for b in breakdowns.values():
            value = b.get(key)
            cells.append("" if value is None else (f"{value:.1%}" if key.endswith("%") or key.endswith("share") else f"{value:.3f}"))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


SECTION_TITLES = {
    "classification": ("Text classification (CPU, float32, batch size 32)", "this / engine"),
    "zero-shot": ("Zero-shot classification (CPU, float32, batch size 32)", "this / engine"),
    "precision": ("Precision variants (CPU, engine, batch size 32)", "speed-up vs float32"),
}


def render(result: BenchResult) -> str:
    """Every table as markdown, in the order of the issue."""
    out = []
    for section, (title, ratio_title) in SECTION_TITLES.items():
        rows = [r for r in result.speed if r.section == section]
        if rows:
            out += [f"### {title}", "", *speed_table(rows, ratio_title=ratio_title), ""]
    if result.breakdowns:
        out += ["### Where the engine's time goes (one profiled pass; seconds unless marked)", "", *breakdown_table(result.breakdowns), ""]
    for section, title in (("scale", "Scale: run_trial at growing row counts"), ("models", "Models in sequence: run_trial per model, one process")):
        rows = [r for r in result.memory if r.section == section]
        if rows:
            out += [f"### {title}", "", *memory_table(rows), ""]
    return "\n".join(out)

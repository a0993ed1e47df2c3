"""The JSON report: the results under their schema plus what is needed to read the report back."""

from __future__ import annotations

import json
from dataclasses import asdict

from core.dataset import LabeledSample
from core.report.model import Report, ReportOptions, build_report
from core.results import RunResult, run_from_dict, run_to_dict, validate


def report_to_dict(report: Report) -> dict:
    """The full results under the schema, plus a `report` block so reading it back gives the same report."""
    data = run_to_dict(report.run)
    block = {
        "latency_budget_ms": report.options.latency_budget_ms, "price_per_hour": dict(report.options.price_per_hour),
        "author": report.options.author, "examples_per_model": report.options.examples_per_model,
        "generated_at": report.generated_at,
        "slice_table": asdict(report.comparison.slices),
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
    return run.dataset.rebuild(texts, pairs, labels)

"""The report model: `build_report` computes everything once (through `core.compare`); each
format only lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from core.compare import Comparison, build_comparison
from core.dataset import LabeledSample
from core.errors import AppError
from core.results import RunResult, evaluate_command
from core.slices import metadata_of

FORMATS = ("html", "pdf", "csv", "json", "md")

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
    command, note = command_to_reproduce(run)
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


def command_to_reproduce(run: RunResult) -> tuple[str, str | None]:
    """The run's own command when it recorded one, else one rebuilt from its trials (with a note)."""
    if run.command:
        return run.command, None
    models = [t for t in run.results if not t.kind.startswith("baseline-")]
    args = ["--data", run.dataset.source or "SAMPLE.csv"]
    for name, value in (("--text-column", run.dataset.columns.get("text")), ("--label-column", run.dataset.columns.get("label")),
                        ("--text-pair-column", run.dataset.columns.get("text_pair"))):
        if value:
            args += [name, value]
    args += _repeated("--slice-column", list(metadata_of(run.slices)))
    for model in dict.fromkeys(t.model for t in models):
        args += ["--model", model]
    args += _repeated("--device", [t.device for t in models]) + _repeated("--dtype", [t.dtype for t in models])
    args += _repeated("--runtime", [t.runtime for t in models]) if any(t.runtime == "onnxruntime" for t in models) else []
    args += _uniform_setting(models, "batch_size", "--batch-size") + _uniform_setting(models, "max_length", "--max-length")
    if not any(t.kind.startswith("baseline-") for t in run.results):
        args.append("--no-baselines")
    return evaluate_command(args), "The run did not record its command; this one was rebuilt from its trials. Check the settings per trial."


def _repeated(option: str, values: list[str]) -> list[str]:
    return [part for value in dict.fromkeys(values) for part in (option, value)]


def _uniform_setting(trials, key: str, option: str) -> list[str]:
    values = {t.settings.get(key) for t in trials if t.settings.get(key) is not None}
    return [option, str(values.pop())] if len(values) == 1 else []

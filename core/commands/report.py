"""`python -m core report RESULTS.json|RUN_ID --format html|pdf|csv|json|md --out FILE`."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from core.commands.evaluate import parse_pairs
from core.dataset import LabeledSample, load_csv
from core.errors import InputError
from core.report import FORMATS, Report, ReportOptions, build_report, report_from_dict, write_report
from core.results import RunResult

RUN_ID = re.compile(r"[0-9a-f]{32}")
SUFFIXES = {".html": "html", ".htm": "html", ".pdf": "pdf", ".csv": "csv", ".json": "json", ".md": "md", ".markdown": "md"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="RESULTS.json|RUN_ID", help="a results file, or the id of a stored run")
    parser.add_argument("--format", choices=FORMATS, help="report format (default: from the --out suffix)")
    parser.add_argument("--out", required=True, help="where to write the report (csv also writes NAME.predictions.csv and NAME.slices.csv)")
    parser.add_argument("--data", help="the labeled CSV the run evaluated, to include error examples with their texts")
    parser.add_argument("--latency-budget-ms", type=float, help="recommend the most accurate trial within this p95 latency per row")
    parser.add_argument("--price-per-hour", action="append", default=[], metavar="DEVICE=PRICE",
                        help="price of an hour of a device, e.g. cpu=0.10 or cuda=2.50, for the cost per 1,000 predictions (repeatable)")
    parser.add_argument("--by", help="who ran the evaluation, shown in the report")
    parser.add_argument("--examples-per-model", type=int,
                        help=f"most error examples shown per model (default {ReportOptions.examples_per_model})")
    parser.add_argument("--label-sep", help="multi-label separator used when the run evaluated --data (default: the run's own)")


def run(args: argparse.Namespace) -> int:
    fmt = args.format or SUFFIXES.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise InputError(f"The report format cannot be told from {args.out!r}.", hint=f"Add --format ({', '.join(FORMATS)}).")
    report = build(args)
    for note in report.comparison.notes:
        print(f"warning: {note}", file=sys.stderr)
    for path in write_report(report, fmt, args.out):
        print(f"wrote {path}")
    return 0


def build(args: argparse.Namespace) -> Report:
    """The report the arguments ask for; options given on the command line win over stored ones."""
    stored = load_source(args.source)
    options = replace(
        stored.options,
        latency_budget_ms=args.latency_budget_ms if args.latency_budget_ms is not None else stored.options.latency_budget_ms,
        price_per_hour=parse_prices(args.price_per_hour) or stored.options.price_per_hour,
        author=args.by or stored.options.author,
        examples_per_model=args.examples_per_model if args.examples_per_model is not None else stored.options.examples_per_model,
    )
    sample = load_data(args.data, stored.run, args.label_sep) if args.data else stored.sample
    return build_report(stored.run, sample=sample, options=options,
                        generated_at=None if args.data or options != stored.options else stored.generated_at)


def load_source(source: str) -> Report:
    """A results file (or a JSON report), or a run in the store with its sample rows."""
    path = Path(source)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{source!r} is not a JSON results file ({error}).", hint="Pass the file `python -m core evaluate --out` wrote.") from error
        return report_from_json(data, source)
    if RUN_ID.fullmatch(source):
        from core.store import Store

        store = Store()
        options = ReportOptions(price_per_hour=store.run_options(source).price_per_hour)  # as the dashboard priced it
        return build_report(store.load_run(source), sample=store.load_sample(source), options=options)
    raise InputError(f"{source!r} is neither a results file nor a stored run id.",
                     hint="Pass a results JSON path, or a run id from `python -m core runs`.")


def report_from_json(data: dict, source: str) -> Report:
    import jsonschema

    try:
        return report_from_dict(data)
    except jsonschema.ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        raise InputError(f"{source!r} does not follow the results schema at {where}: {error.message}",
                         hint="Pass a file written by `python -m core evaluate --out` (schema/results.schema.json).") from error


def parse_prices(values: list[str]) -> dict[str, float]:
    prices = {}
    for device, text in parse_pairs(values, "--price-per-hour").items():
        try:
            prices[device] = float(text)
        except ValueError:
            raise InputError(f"--price-per-hour {device}={text!r}: the price is not a number.", hint="Write it like cuda=2.50.") from None
        if prices[device] < 0:
            raise InputError(f"--price-per-hour {device}={text}: a price cannot be negative.", hint="Write it like cpu=0.10.")
    return prices


def load_data(path: str, run: RunResult, label_sep: str | None) -> LabeledSample:
    """Read --data with the run's own columns and separator, so its hash can match the run's."""
    columns = run.dataset.columns
    return load_csv(
        path, text_column=columns.get("text"), label_column=columns.get("label"), text_pair_column=columns.get("text_pair"),
        label_sep=label_sep or option_of(run.command, "--label-sep"), delimiter=option_of(run.command, "--delimiter"),
    )


def option_of(command: str | None, option: str) -> str | None:
    """The value of `option` in a recorded command line, if it has one."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word == option and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None

"""`python -m core starter RUN_ID|RESULTS_FILE --model ID --out DIR`: a fine-tuning starter for a trial."""

from __future__ import annotations

import argparse

from core.commands.report import load_data, load_source
from core.errors import InputError
from core.starter import build_starter


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="RESULTS.json|RUN_ID", help="a results file, or the id of a stored run")
    parser.add_argument("--model", required=True, help="the model to fine-tune (as the run names it)")
    parser.add_argument("--out", required=True, help="folder for train.py, requirements.txt, README.md and the CSVs")
    parser.add_argument("--data", help="the labeled CSV the run evaluated (needed for a results file: it has no rows)")
    parser.add_argument("--label-sep", help="with --data: the multi-label separator the run used")


def run(args: argparse.Namespace) -> int:
    report = load_source(args.source)
    sample = load_data(args.data, report.run, args.label_sep) if args.data else report.sample
    if sample is None:
        raise InputError(f"{args.source} holds no sample rows, and the starter splits them into train and validation.",
                         hint="Give the CSV the run evaluated with --data.")
    if sample.sha256 != report.run.dataset.sha256:
        raise InputError(f"{args.data} is not the sample the run evaluated (its rows differ).",
                         hint="Give the CSV the run was made from, unchanged.")
    for path in build_starter(report.run, sample, args.model).write(args.out):
        print(f"wrote {path}")
    print(f"next: cd {args.out} && python -m pip install -r requirements.txt && python train.py")
    return 0

"""`python -m core discover|evaluate|worker|runs ...`: the command line over the core library."""

from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import AppError, install_log_redaction

#: Subcommand name -> module under core.commands exposing `configure(parser)` and `run(args) -> int`.
COMMANDS = {
    "discover": "Find candidate models on the Hub and in local sources.",
    "evaluate": "Evaluate models on a labeled CSV and write a results file.",
    "worker": "Run queued evaluation jobs in the background.",
    "runs": "List, show progress of, cancel, resume or delete stored runs.",
    "report": "Write the comparison report of a run as HTML, PDF, CSV, JSON or Markdown.",
    "starter": "Write a fine-tuning starter (train.py, requirements, README, train/validation CSVs) for a trial.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        _command_module(name).configure(sub)
    return parser


def _command_module(name: str):
    return importlib.import_module(f"core.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()  # before anything can log the token
    try:
        args = build_parser().parse_args(argv)
        return _command_module(args.command).run(args)
    except AppError as error:
        print(f"error: {error.sentence}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: files are written only whole, so none was left half written; "
              "runs in the store are kept as they were.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

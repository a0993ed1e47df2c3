"""The racing options of `python -m core evaluate` (core.racing)."""

from __future__ import annotations

import argparse

from core.errors import InputError
from core.metrics import ALPHA
from core.racing import DEFAULT_FIRST_ROWS, DEFAULT_GROWTH, RaceSettings
from core.settings import get_settings


SETTINGS = (
    ("--race-alpha", float, ALPHA, "stop a model when its Holm-adjusted p-value is below this"),
    ("--race-first-rows", int, DEFAULT_FIRST_ROWS, "rows of the first round"),
    ("--race-growth", float, DEFAULT_GROWTH, "each round's rows are the last round's times this"),
)


def add_race_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--race", action="store_true",
                        help="race the models: score all on the same growing prefix of a seeded shuffle and stop "
                             "those a paired test finds worse than the leader (probe, fine-tune, rules and "
                             "baselines run on all rows)")
    for flag, kind, default, meaning in SETTINGS:
        parser.add_argument(flag, type=kind, default=default, help=f"with --race: {meaning} (default {default:g})")


def race_settings_of(args: argparse.Namespace) -> RaceSettings | None:
    """The race asked for on the command line (checked), or None without --race."""
    if not args.race:
        if (args.race_alpha, args.race_first_rows, args.race_growth) != tuple(default for _, _, default, _ in SETTINGS):
            raise InputError("--race-alpha, --race-first-rows and --race-growth need --race.", hint="Add --race.")
        return None
    race = RaceSettings(alpha=args.race_alpha, first_rows=args.race_first_rows, growth=args.race_growth,
                        seed=get_settings().seed)
    race.check()
    return race

"""CSV for spreadsheets: cells a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from core.report.model import Report
from core.report.tables import leaderboard_frame, predictions_frame, slice_frame


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LEADING_CONTROL = re.compile(r"^[\x00-\x20\x7f]+")


def neutralize(value):
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading quote,
    also when control characters or spaces come first (some spreadsheets drop those on import,
    so '\x00=HYPERLINK(...)' would run).

    Numbers, and text that is just a number such as "-0.5", stay as they are.
    """
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        return value
    if not value.startswith(FORMULA_STARTS) and not _LEADING_CONTROL.sub("", value).startswith(FORMULA_STARTS):
        return value
    return "'" + value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = [neutralize(str(c)) for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(neutralize)
    return frame


def render_csv(report: Report) -> dict[str, str]:
    """Three tables: the leaderboard, the per-row predictions and the scores per slice, cells neutralized
    for spreadsheets."""
    return {
        "leaderboard": neutralize_frame(leaderboard_frame(report)).to_csv(index=False, lineterminator="\n"),
        "predictions": neutralize_frame(predictions_frame(report)).to_csv(index=False, lineterminator="\n"),
        "slices": neutralize_frame(slice_frame(report)).to_csv(index=False, lineterminator="\n"),
    }


def predictions_path(out: Path) -> Path:
    return out.with_name(out.stem + ".predictions.csv")


def slices_path(out: Path) -> Path:
    return out.with_name(out.stem + ".slices.csv")

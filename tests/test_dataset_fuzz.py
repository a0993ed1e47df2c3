"""Property-based tests of CSV reading (hypothesis): hostile text in, exact rows or our own errors out.

Files are written by an independent writer (the csv module or pandas), with every delimiter we
detect, with and without a BOM, in UTF-8, UTF-16 and cp1252, then read back with `load_csv`.
The properties: only `InputError` is ever raised, and every row whose text and label are not
blank comes back with its text unchanged and its label as the same string (stripped of spaces).
Examples are derandomized so CI runs the same ones every time (raise FUZZ_EXAMPLES to explore).
"""

from __future__ import annotations

import codecs
import csv
import io
import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from core import settings as setting_names
from core.dataset import load_csv, preview_csv
from core.decoding import looks_binary
from core.errors import InputError
from core.settings import Settings

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=int(150 * SCALE), deadline=None, derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
DELIMITERS = [",", ";", "\t", "|"]
NA_LIKE = ["NA", "N/A", "n/a", "#N/A", "<NA>", "None", "none", "null", "NULL", "nan", "NaN", "-nan", "", " ", "-"]
FORMULA_LIKE = ["=1+1", "@x", "-2", "+3", '=HYPERLINK("http://x","y")', "\t=cmd|' /C calc'!A0", "\r=1", "=-1"]
TRICKY = ['"', '""', "'", ",", ";", "\t", "|", "\n", "\r\n", "\r", "\ufeff", " ", "\\", "#", "\x00", "\x0b",
          "\u2028", "\x85", "é", "€", "😀", "<script>alert(1)</script>", "0", "01", "1e5", "True"]
LABELS = NA_LIKE + FORMULA_LIKE + ["01", "007", "1.0", "1e3", "True", "false", "0x1F", " padded ", "bug", "é", "😀",
                                   "a,b", 'say "hi"', "line\nbreak"]
#: Every character cp1252 can encode (5 of its 256 bytes are undefined).
CP1252_CHARS = [c for c in (bytes([b]).decode("cp1252", errors="ignore") for b in range(256)) if c]
SMALL = Settings(max_rows=200, max_cell_chars=500)


def cells(charset: list[str] | None = None) -> st.SearchStrategy[str]:
    """Text made of tricky pieces, NA-like and formula-like values, and random characters (from `charset`)."""
    pieces = [p for p in TRICKY + NA_LIKE + FORMULA_LIKE if charset is None or set(p) <= set(charset)]
    random_text = st.text(alphabet=st.sampled_from(charset), max_size=12) if charset else st.text(max_size=12)
    return st.lists(st.one_of(st.sampled_from(pieces), random_text), max_size=5).map("".join)


def labels() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(LABELS), st.text(max_size=8))


def rows(text: st.SearchStrategy[str], label: st.SearchStrategy[str], max_size: int = 12):
    return st.lists(st.tuples(text, label), min_size=1, max_size=max_size)


def write_csv(data: list[tuple[str, str]], delimiter: str, writer: str) -> str:
    """The rows under a `text,label` header, written by the csv module or by pandas."""
    if writer == "pandas":
        return pd.DataFrame(data, columns=["text", "label"]).to_csv(sep=delimiter, index=False)
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n" if writer == "csv-crlf" else "\n")
    out.writerow(["text", "label"])
    out.writerows(data)
    return buffer.getvalue()


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-bom":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    if encoding == "utf-16":
        return text.encode("utf-16")  # with its BOM, as Excel's "Unicode text" writes it
    return text.encode(encoding)


def expected_rows(data: list[tuple[str, str]]) -> list[tuple[str, tuple[str, ...]]]:
    """What a reader must give back: rows with a non-blank text and label; labels stripped, as strings."""
    return [(text, (label.strip(),)) for text, label in data if text.strip() and label.strip()]


def read_back(raw: bytes, delimiter: str | None, config: Settings = SMALL):
    """The rows `load_csv` reads, or None when it refused with our own error (anything else fails the test)."""
    try:
        sample = load_csv(raw, delimiter=delimiter, settings=config)
    except InputError as error:
        assert error.sentence.strip(), "an error says what is wrong"
        return None
    assert all(isinstance(label, str) for row in sample.labels for label in row)
    return list(zip(sample.texts, sample.labels))


def check_round_trip(data, raw: bytes, delimiter: str | None) -> None:
    expected = expected_rows(data)
    got = read_back(raw, delimiter)
    if looks_binary(raw) and got is None:
        return  # mostly NUL bytes: refused as binary data, with our sentence
    if not expected:
        assert got is None, "a file without a usable row is refused"
    else:
        assert got == expected


@FUZZ
@given(data=rows(cells(), labels()), delimiter=st.sampled_from(DELIMITERS), explicit=st.booleans(),
       writer=st.sampled_from(["csv", "csv-crlf", "pandas"]), encoding=st.sampled_from(["utf-8", "utf-8-bom", "utf-16"]))
@example(data=[("=1+1", "01"), ("@x", "NA"), ("-2", "None"), ("a\r\nb", "null"), ('"q"', "nan")], delimiter=",",
         explicit=False, writer="csv", encoding="utf-8-bom")
def test_unicode_rows_and_labels_round_trip(data, delimiter, explicit, writer, encoding):
    raw = encode(write_csv(data, delimiter, writer), encoding)
    check_round_trip(data, raw, delimiter if explicit else None)


@FUZZ
@given(data=rows(cells(CP1252_CHARS), st.one_of(st.sampled_from(NA_LIKE + ["01", "caf\u00e9"]),
                                                                 st.text(st.sampled_from(CP1252_CHARS), max_size=6))),
       delimiter=st.sampled_from(DELIMITERS), explicit=st.booleans())
def test_cp1252_rows_round_trip_with_a_warning(data, delimiter, explicit):
    """A cp1252 file is read as cp1252, unless its bytes happen to be valid UTF-8 too (then it is UTF-8)."""
    raw = write_csv(data, delimiter, "csv").encode("cp1252")
    try:
        raw.decode("utf-8")
        is_utf8 = True
    except UnicodeDecodeError:
        is_utf8 = False
    assume(not is_utf8 or raw.isascii())
    check_round_trip(data, raw, delimiter if explicit else None)
    if not is_utf8 and expected_rows(data) and not looks_binary(raw):
        sample = load_csv(raw, delimiter=delimiter if explicit else None, settings=SMALL)
        assert sample.encoding == "cp1252" and any("Windows-1252" in w for w in sample.warnings)


@FUZZ
@given(data=rows(cells(), labels(), max_size=30), max_rows=st.integers(1, 25), max_cell_chars=st.integers(1, 40))
def test_limits_are_our_errors_naming_the_setting(data, max_rows, max_cell_chars):
    raw = write_csv(data, ",", "csv").encode("utf-8")
    config = Settings(max_rows=max_rows, max_cell_chars=max_cell_chars)
    too_many = len(data) > max_rows
    too_long = any(len(cell) > max_cell_chars for row in data for cell in row)
    try:
        sample = load_csv(raw, delimiter=",", settings=config)
    except InputError as error:
        if too_many:
            assert f"{len(data):,} rows; the limit is {max_rows:,}" in error.sentence
            assert setting_names.MAX_ROWS in error.sentence
        elif too_long:
            assert setting_names.MAX_CELL_CHARS in error.sentence and f"the limit is {max_cell_chars:,}" in error.sentence
        else:
            assert not expected_rows(data) and "No usable rows" in error.sentence
        return
    assert not too_many and not too_long
    assert list(zip(sample.texts, sample.labels)) == expected_rows(data)


@settings(max_examples=int(200 * SCALE), deadline=None, derandomize=SCALE == 1)
@given(raw=st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode),
                     st.lists(st.sampled_from(["text", "label", ",", ";", "\t", "|", "\n", "\r", '"', " ", "x", "NA",
                                               "\ufeff", "\x00", "é", "text,label\n"]), max_size=40)
                     .map(lambda parts: "".join(parts).encode("utf-8"))),
       delimiter=st.sampled_from([None, ",", ";", "\t", "|"]))
def test_any_bytes_give_a_sample_or_our_error(raw, delimiter):
    """Hostile files: random bytes, random text, random CSV-ish pieces; also through the preview."""
    got = read_back(raw, delimiter)
    assert got is None or all(text.strip() and labels[0] for text, labels in got)
    try:
        preview = preview_csv(raw, delimiter=delimiter)
    except InputError:
        return
    assert list(preview.head.columns) == preview.columns


@FUZZ
@given(header=st.lists(st.sampled_from(["text", " text", "text ", "label", "Label", " label ", "", "x", "text.1"]),
                       min_size=1, max_size=4))
def test_any_header_gives_a_sample_or_our_error(header):
    line = ",".join(header)
    raw = f"{line}\n" + ",".join(["a"] * len(header)) + "\n"
    got = read_back(raw.encode("utf-8"), None)
    assert got is None or got == [("a", ("a",))]


def test_default_limits_are_enforced_with_the_setting_named():
    """The shipped limits themselves: 20,000 rows and 20,000 characters a cell."""
    defaults = Settings()
    many = "text,label\n" + "x,y\n" * (defaults.max_rows + 1)
    with pytest.raises(InputError, match=f"{defaults.max_rows + 1:,} rows; the limit is {defaults.max_rows:,}.*MSD_MAX_ROWS"):
        load_csv(many.encode(), settings=defaults)
    long_cell = "text,label\nshort,a\n" + "x" * (defaults.max_cell_chars + 1) + ",b\n"
    with pytest.raises(InputError, match=rf"cell of {defaults.max_cell_chars + 1:,} characters \(row 3\).*MSD_MAX_CELL_CHARS"):
        load_csv(long_cell.encode(), settings=defaults)
    at_limit = load_csv(("text,label\n" + "x" * defaults.max_cell_chars + ",b\n").encode(), settings=defaults)
    assert len(at_limit.texts[0]) == defaults.max_cell_chars

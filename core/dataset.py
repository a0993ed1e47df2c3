"""A labeled CSV or TSV in, a validated and hashed `LabeledSample` out."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from core import settings as setting_names
from core.decoding import decode_bytes
from core.errors import InputError
from core.settings import Settings, get_settings

TEXT_COLUMN_NAMES = ("text", "sentence", "sentence1", "premise", "question", "content", "body", "message", "review", "document", "ticket")
PAIR_COLUMN_NAMES = ("text_pair", "sentence2", "hypothesis", "text2", "second_text")
LABEL_COLUMN_NAMES = ("label", "labels", "category", "class", "target", "intent", "tag", "topic", "y")
DELIMITERS = ",\t;|"
#: How much of a file is looked at to detect its delimiter.
SNIFF_CHARS = 64_000
SNIFF_RECORDS = 200


@dataclass(frozen=True)
class DroppedRows:
    empty_text: int = 0
    empty_label: int = 0

    @property
    def total(self) -> int:
        return self.empty_text + self.empty_label


@dataclass(frozen=True)
class ColumnMapping:
    text: str
    label: str
    text_pair: str | None = None


@dataclass(frozen=True)
class LabeledSample:
    """Rows ready for evaluation. Labels are strings; each row has a tuple of them."""

    texts: list[str]
    labels: list[tuple[str, ...]]
    label_set: list[str]
    columns: ColumnMapping
    pairs: list[str] | None = None
    multi_label: bool = False
    label_sep: str | None = None
    dropped: DroppedRows = field(default_factory=DroppedRows)
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    source_name: str = ""
    sha256: str = ""
    #: Metadata columns chosen to slice the scores by: column -> each row's value (not part of the hash).
    metadata: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def single_labels(self) -> list[str]:
        """One label per row; only meaningful when the sample is not multi-label."""
        return [row[0] for row in self.labels]

    @property
    def label_counts(self) -> dict[str, int]:
        counts = Counter(label for row in self.labels for label in row)
        return {label: counts[label] for label in self.label_set}


def load_csv(
    source: str | Path | bytes,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_sep: str | None = None,
    delimiter: str | None = None,
    source_name: str | None = None,
    slice_columns: list[str] | None = None,
    settings: Settings | None = None,
) -> LabeledSample:
    """Read a labeled CSV/TSV file (path or raw bytes) into a `LabeledSample`, with the values of
    `slice_columns` (metadata to slice the scores by) kept per row.

    Raises `InputError` with a sentence naming the problem and the fix.
    """
    settings = settings or get_settings()
    raw, name = _read_bytes(source, source_name)
    text, encoding, warnings = decode_bytes(raw)
    sep = (delimiter or detect_delimiter(text)) if text.strip() else ","
    frame = read_frame(text, delimiter=sep, max_columns=settings.max_columns)
    columns = choose_columns(list(frame.columns), text=text_column, pair=text_pair_column, label=label_column)
    check_limits(frame, columns, settings)
    check_no_swallowed_rows(text, sep, frame, columns)
    check_slice_columns(list(slice_columns or []), list(frame.columns), columns)
    sample = build_sample(frame, columns, label_sep=label_sep, encoding=encoding, warnings=warnings, name=name,
                          slice_columns=list(slice_columns or []))
    check_label_count(sample, settings)
    return sample


@dataclass(frozen=True)
class CsvPreview:
    """The first rows of a file and the columns we would guess, before the user confirms them."""

    columns: list[str]
    head: pd.DataFrame
    guessed: ColumnMapping | None
    encoding: str
    warnings: list[str]


def preview_csv(raw: bytes, *, rows: int = 20, delimiter: str | None = None, settings: Settings | None = None) -> CsvPreview:
    """Read a file for its preview and column pickers; raises `InputError` like `load_csv`."""
    text, encoding, warnings = decode_bytes(raw)
    frame = read_frame(text, delimiter=delimiter, max_columns=(settings or get_settings()).max_columns)
    columns = list(frame.columns)
    try:
        guessed = choose_columns(columns, text=None, pair=None, label=None)
    except InputError:
        guessed = None
    return CsvPreview(columns, frame.head(rows), guessed, encoding, warnings)


def _read_bytes(source: str | Path | bytes, source_name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, source_name or "upload"
    path = Path(source)
    if not path.is_file():
        raise InputError(f"The file {str(path)!r} does not exist.", hint="Check the path passed with --data.")
    return path.read_bytes(), source_name or path.name


def detect_delimiter(text: str) -> str:
    """The candidate that splits the first records into one same number (above 1) of fields.

    Parsed with quoting, so delimiters inside quoted cells do not count; when no candidate is
    consistent (a ragged file), the Sniffer and then the header line decide.
    """
    sample = text[:SNIFF_CHARS]
    if line_terminator(text):
        sample = sample.replace("\r", " ")  # csv.reader would end a record there; the file does not
    widths = {d: consistent_width(sample, d, cut=len(text) > SNIFF_CHARS) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: widths[d])  # ties go to the earlier, more common one
    if widths[best] > 1:
        return best
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.splitlines()[0] if sample else ""
        counts = {d: first_line.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def line_terminator(text: str) -> str | None:
    """LF when the header line ends with LF alone: then a bare CR is part of a cell, as pandas and
    the csv module write it (unquoted). None lets the parser end lines at CR, LF or CRLF."""
    end = re.search(r"\r\n|\n|\r", text)
    return "\n" if end and end.group() == "\n" else None


def consistent_width(sample: str, delimiter: str, *, cut: bool) -> int:
    """Fields per record when the first records all have the same number of them, else 0."""
    try:
        records = [r for r in itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), SNIFF_RECORDS) if r]
    except csv.Error:
        return 0
    if cut and len(records) > 1:
        records = records[:-1]  # the sample may end inside the last record
    widths = {len(r) for r in records}
    return widths.pop() if len(widths) == 1 else 0


def read_frame(text: str, *, delimiter: str | None = None, max_columns: int | None = None) -> pd.DataFrame:
    if not text.strip():
        raise InputError("The file is empty.", hint="Upload a CSV with a header row and at least one labeled row.")
    sep = delimiter or detect_delimiter(text)
    names = header_names(text, sep)
    if max_columns is not None and len(names) > max_columns:  # refused before pandas builds every column
        raise InputError(
            f"The header has {len(names):,} columns; the limit is {max_columns:,}.",
            hint=f"Keep only the text and label columns, or raise the limit with the setting {setting_names.MAX_COLUMNS}.",
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=True,
            lineterminator=line_terminator(text),
        )
    except pd.errors.EmptyDataError as error:
        raise InputError("The file has no header row.", hint="Upload a CSV whose first row names the columns.") from error
    except (pd.errors.ParserError, csv.Error) as error:
        raise InputError(
            f"The file could not be read as delimited text with delimiter {sep!r}: {error}",
            hint="Check quoting in the row named above, or give the delimiter explicitly.",
        ) from error
    check_unique_columns(names)  # the raw header: pandas renames a repeat to 'label.1'
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def header_names(text: str, sep: str) -> list[str]:
    """The first record's names, as written (stripped), read with the file's quoting."""
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep), [])
    except csv.Error:
        return []
    return [name.strip() for name in first]


def check_unique_columns(columns: list[str]) -> None:
    repeated = sorted(name for name, count in Counter(columns).items() if count > 1)
    if repeated:
        raise InputError(
            f"The header names the column {repeated[0]!r} more than once (columns are: {', '.join(columns)}).",
            hint="Give every column its own name in the first row.",
        )


def check_no_swallowed_rows(text: str, sep: str, frame: pd.DataFrame, columns: ColumnMapping) -> None:
    """Refuse a file where a quote left open swallowed the following rows into one cell.

    A quoted cell may hold line breaks; but when the lines inside one cell each read as a row of
    this file, ending in one of its labels, a quote was opened by mistake and those rows would be
    lost without a word. Says on which line the quote opened and where it closed.
    """
    labels = {label.strip() for label in frame[columns.label] if label.strip()}
    names = list(frame.columns)
    shape = (len(names), names.index(columns.text), names.index(columns.label))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    last_line = 0
    try:
        for record in reader:
            first_line, last_line = last_line + 1, reader.line_num
            inside = [line for cell in record if "\n" in cell or "\r" in cell for line in cell.splitlines()[1:]]
            rows = [line for line in inside if looks_like_row(line, sep, shape, labels)]
            if rows:
                raise InputError(
                    f"A quote opened on line {first_line} is only closed on line {last_line}, so {len(rows)} rows in between "
                    f"(e.g. {rows[0][:80]!r}) were read as part of one cell.",
                    hint=f'Close the quote on line {first_line}, or double it ("") if it is part of the text.',
                )
    except csv.Error:
        return  # pandas read it; what the csv module cannot read is not this check's to judge


def looks_like_row(line: str, sep: str, shape: tuple[int, int, int], labels: set[str]) -> bool:
    """A line with the file's number of fields, some text, and one of its labels in the label column."""
    width, text_at, label_at = shape
    fields = next(csv.reader([line], delimiter=sep), [])
    return len(fields) == width and bool(fields[text_at].strip()) and fields[label_at].strip() in labels


def choose_columns(available: list[str], *, text: str | None, pair: str | None, label: str | None) -> ColumnMapping:
    """Use the columns the user named, or guess from common names; errors list the columns."""
    listing = ", ".join(available)
    text = _pick_column("text", text, TEXT_COLUMN_NAMES, available, listing)
    label = _pick_column("label", label, LABEL_COLUMN_NAMES, available, listing)
    if pair is not None and pair not in available:
        raise InputError(f"Text-pair column {pair!r} not found; columns are: {listing}.", hint="Pick one of those.")
    if pair is None:
        pair = next((c for c in available if c.lower() in PAIR_COLUMN_NAMES and c not in (text, label)), None)
    if text == label:
        raise InputError(f"The text and label columns are both {text!r}.", hint="Pick two different columns.")
    return ColumnMapping(text=text, label=label, text_pair=pair)


def _pick_column(role: str, wanted: str | None, guesses: tuple[str, ...], available: list[str], listing: str) -> str:
    if wanted is not None:
        if wanted in available:
            return wanted
        raise InputError(f"Column {wanted!r} not found; columns are: {listing}.", hint=f"Pick the {role} column from those.")
    by_lower = {c.lower(): c for c in available}
    for guess in guesses:
        if guess in by_lower:
            return by_lower[guess]
    raise InputError(
        f"No {role} column could be guessed; columns are: {listing}.",
        hint=f"Name it with --{role}-column (common names: {', '.join(guesses[:4])}).",
    )


def check_limits(frame: pd.DataFrame, columns: ColumnMapping, settings: Settings) -> None:
    if len(frame) > settings.max_rows:
        raise InputError(
            f"The file has {len(frame):,} rows; the limit is {settings.max_rows:,}.",
            hint=f"Use a smaller sample, or raise the limit with the setting {setting_names.MAX_ROWS}.",
        )
    for column in filter(None, (columns.text, columns.text_pair, columns.label)):
        lengths = frame[column].str.len()
        if len(lengths) and lengths.max() > settings.max_cell_chars:
            row = int(lengths.idxmax()) + 2  # header is line 1
            raise InputError(
                f"Column {column!r} has a cell of {int(lengths.max()):,} characters (row {row}); "
                f"the limit is {settings.max_cell_chars:,}.",
                hint=f"Shorten that cell, or raise the limit with the setting {setting_names.MAX_CELL_CHARS}.",
            )


def check_label_count(sample: LabeledSample, settings: Settings) -> None:
    if len(sample.label_set) > settings.max_labels:
        raise InputError(
            f"The sample has {len(sample.label_set):,} distinct labels; the limit is {settings.max_labels:,} "
            "(per-label scores and the confusion matrix grow with the square of the count).",
            hint=f"Check that {sample.columns.label!r} is the label column and not an id or a text; group rare labels; "
                 f"or raise the limit with the setting {setting_names.MAX_LABELS}.",
        )


def split_labels(value: str, label_sep: str | None) -> tuple[str, ...]:
    if not label_sep:
        return (value.strip(),)
    parts = (part.strip() for part in value.split(label_sep))
    return tuple(dict.fromkeys(part for part in parts if part))


MAX_SLICE_VALUES = 50
EMPTY_SLICE = "(empty)"


def check_slice_columns(wanted: list[str], available: list[str], columns: ColumnMapping) -> None:
    for column in wanted:
        if column not in available:
            raise InputError(f"There is no column {column!r} to slice by.", hint=f"The file's columns: {', '.join(available)}.")
        if column in (columns.text, columns.text_pair, columns.label):
            raise InputError(f"{column!r} is the text or label column; slices need a metadata column.",
                             hint="Pick a column such as channel, product or language.")


def slice_values(frame: pd.DataFrame, column: str, rows: list[int]) -> list[str]:
    values = [str(frame[column].iloc[i]).strip() or EMPTY_SLICE for i in rows]
    distinct = len(set(values))
    if distinct > MAX_SLICE_VALUES:
        raise InputError(
            f"Column {column!r} has {distinct:,} distinct values; a slice column needs at most {MAX_SLICE_VALUES} "
            "(each value is a group of rows scored on its own).",
            hint="Slice by a column with a few values (channel, product, language), or group its values first.",
        )
    return values


def build_sample(
    frame: pd.DataFrame, columns: ColumnMapping, *, label_sep: str | None, encoding: str, warnings: list[str], name: str,
    slice_columns: list[str] | None = None,
) -> LabeledSample:
    texts_raw = frame[columns.text].tolist()
    pairs_raw = frame[columns.text_pair].tolist() if columns.text_pair else [None] * len(frame)
    labels_raw = frame[columns.label].tolist()
    kept, kept_rows, empty_text, empty_label = [], [], 0, 0
    for index, (text, pair, label) in enumerate(zip(texts_raw, pairs_raw, labels_raw)):
        labels = split_labels(label, label_sep)
        if not text.strip() or (pair is not None and not pair.strip()):
            empty_text += 1
        elif not labels or not labels[0]:
            empty_label += 1
        else:
            kept.append((text, pair, labels))
            kept_rows.append(index)
    if not kept:
        raise InputError(
            f"No usable rows: {empty_text} rows have empty text and {empty_label} have an empty label.",
            hint=f"Check that {columns.text!r} and {columns.label!r} are the right columns.",
        )
    sample = _assemble(kept, columns, label_sep, DroppedRows(empty_text, empty_label), encoding, warnings, name)
    return replace(sample, metadata={column: slice_values(frame, column, kept_rows) for column in slice_columns or []})


def _assemble(kept, columns, label_sep, dropped, encoding, warnings, name) -> LabeledSample:
    texts = [row[0] for row in kept]
    pairs = [row[1] for row in kept] if columns.text_pair else None
    labels = [row[2] for row in kept]
    label_set = sorted({label for row in labels for label in row})
    multi_label = bool(label_sep) and any(len(row) > 1 for row in labels)
    duplicates = len(kept) - len({(row[0], row[1]) for row in kept})
    warnings = list(warnings) + sample_warnings(dropped, duplicates, labels, label_set)
    return LabeledSample(
        texts=texts, labels=labels, label_set=label_set, columns=columns, pairs=pairs,
        multi_label=multi_label, label_sep=label_sep, dropped=dropped, duplicates=duplicates,
        warnings=warnings, encoding=encoding, source_name=name,
        sha256=content_hash(texts, pairs, labels),
    )


def sample_warnings(dropped: DroppedRows, duplicates: int, labels, label_set: list[str]) -> list[str]:
    notes = []
    if dropped.total:
        notes.append(
            f"{dropped.total} rows were dropped: {dropped.empty_text} with empty text, {dropped.empty_label} with an empty label."
        )
    if duplicates:
        notes.append(f"{duplicates} rows repeat the text of an earlier row; they are kept and counted twice.")
    if len(label_set) < 2:
        notes.append("The sample has a single label; accuracy will not tell models apart. Add rows of other labels.")
    counts = Counter(label for row in labels for label in row)
    rare = sorted(label for label in label_set if counts[label] < 5)
    if rare:
        notes.append(f"Labels with fewer than 5 rows give unreliable per-class scores: {', '.join(rare)}.")
    return notes


def content_hash(texts: list[str], pairs: list[str] | None, labels: list[tuple[str, ...]]) -> str:
    """sha256 of the rows themselves, independent of file encoding, delimiter or column names."""
    digest = hashlib.sha256()
    for i, text in enumerate(texts):
        row = [text, pairs[i] if pairs else None, list(labels[i])]
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()

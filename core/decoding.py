"""Bytes to text for a labeled file: binary files refused naming what they look like, UTF-16 with or
without its byte-order mark, UTF-8, and Windows-1252 as the said fallback."""

from __future__ import annotations

import codecs

from core.errors import InputError


#: The first bytes of files people upload by mistake instead of a CSV, and what to call them.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx or a Word .docx file is one)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls or Word .doc file",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"PAR1": "a Parquet file",
    b"SQLite format 3": "an SQLite database",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}
#: Bytes looked at to tell UTF-16 without a byte-order mark, or binary data, from text.
SNIFF_BYTES = 8192
#: Share of control bytes (NUL and the others text never uses) above which a file is binary data,
#: not text, once there are at least BINARY_CONTROL_MIN of them; stray ones in cells are kept. Tab,
#: line feed, carriage return and form feed are text.
BINARY_CONTROL_SHARE = 0.1
BINARY_CONTROL_MIN = 16
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20)])


def looks_binary(raw: bytes) -> bool:
    head = raw[:SNIFF_BYTES]
    controls = sum(head.count(b) for b in _BINARY_BYTES)
    return controls >= BINARY_CONTROL_MIN and controls / len(head) > BINARY_CONTROL_SHARE


def check_is_text(raw: bytes) -> None:
    """Refuse binary files (a workbook renamed .csv, an archive) before their bytes pass for column names."""
    what = next((name for signature, name in BINARY_SIGNATURES.items() if raw.startswith(signature)), None)
    if what is None and looks_binary(raw):
        what = "binary data (a tenth of its first bytes are control codes, which text does not have)"
    if what:
        raise InputError(f"This is not a text CSV: it looks like {what}.",
                         hint="Open it in its program, save it as CSV (UTF-8), and upload that file.")


def utf16_without_bom(raw: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when every other byte of the start is NUL, as in ASCII text saved as UTF-16."""
    head = raw[: SNIFF_BYTES - SNIFF_BYTES % 2]
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd > 0.4 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.4 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


def decode_bytes(raw: bytes) -> tuple[str, str, list[str]]:
    """UTF-16 when it starts with its BOM (Excel's "Unicode text") or, without one, when every other
    byte is NUL; UTF-8 (with or without BOM); else cp1252 with a warning saying so. Binary files are
    refused with what they look like."""
    if not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and (bare := utf16_without_bom(raw)):
        try:
            return raw.decode(bare), "utf-16", [f"The file is UTF-16 without a byte-order mark; it was read as {bare.upper()}."]
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: the binary check below says what it is
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as error:
            raise InputError(
                f"The file starts like UTF-16 text but is not valid UTF-16 (bad bytes at offset {error.start}).",
                hint="Save it again as CSV UTF-8.",
            ) from error
    check_is_text(raw)
    try:
        return raw.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError as error:
        position = error.start
    text = raw.decode("cp1252", errors="replace")
    warning = (
        f"The file is not valid UTF-8 (first bad byte at offset {position}); it was read as Windows-1252 (cp1252). "
        "Check accented characters in the preview, or save the file as UTF-8."
    )
    return text, "cp1252", [warning]

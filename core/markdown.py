"""The one Markdown escaper: text from outside (ids, labels, file names, sample rows) made literal,
for the dashboard's Streamlit Markdown and the Markdown report alike.

One line (whitespace collapsed, so a newline cannot start a heading, a list or a table row); every
character with a meaning escaped with a backslash, which CommonMark and Streamlit both read as the
literal character: emphasis and code (`* _ ~ \\``), links and images (`[ ]`), HTML and entities
(`< > &`), tables (`|`), headings (`#`), Streamlit's emoji, colour and icon directives (a `:` before a letter) and
LaTeX (`$`), and a list marker at the start (`1.`, `-`, `+`).
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>&#|~$]|:(?=[A-Za-z_/-]))")
_LEADING_LIST_MARKER = re.compile(r"^(\d+(?=[.)])|(?=[-+]))")


def md(text: object) -> str:
    """`text` as literal Markdown on one line."""
    flat = _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return _LEADING_LIST_MARKER.sub(lambda m: m.group(1) + "\\" if m.group(1) else "\\", flat, count=1)

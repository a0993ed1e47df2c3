"""`python -m core discover --task text-classification`: candidates as a table or JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from core import hub
from core.settings import get_settings

#: Checklist letters, in `hub.CHECK_NAMES` order.
CHECK_LETTERS = {"popular": "P", "documented": "D", "maintained": "M", "safe_to_load": "S", "licensed": "L", "accessible": "A"}
KIND_NAMES = {"text-classification": "classify", "zero-shot-classification": "zero-shot", "embedding-probe": "probe"}
COLUMNS = ("MODEL", "FROM", "FITS", "DOWNLOADS", "LIKES", "PARAMS", "UPDATED", "CHECKS")
LEGEND = (
    "Checks: P popular, D documented, M maintained, S safe to load, L licensed, A accessible "
    "(- fails; --json gives the reasons)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="text-classification", choices=hub.TASKS, help="Hub pipeline tag")
    parser.add_argument("--search", help="text contained in the model id")
    parser.add_argument("--author", help="user or organization that uploaded the model")
    parser.add_argument("--language", help="language tag, e.g. en")
    parser.add_argument("--license", help="license id, e.g. apache-2.0")
    parser.add_argument("--min-params", type=int, help="fewest parameters, e.g. 1000000")
    parser.add_argument("--max-params", type=int, help="most parameters, e.g. 500000000")
    parser.add_argument("--no-gated", action="store_true", help="leave out gated models")
    parser.add_argument("--no-local", action="store_true", help="leave out the local cache and model folders")
    parser.add_argument("--sort", default="downloads", choices=tuple(hub.SORTS), help="order (descending)")
    parser.add_argument("--limit", type=int, default=20, help=f"most Hub results, 1 to {hub.MAX_LIMIT} (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON, one object per candidate")


def run(args: argparse.Namespace) -> int:
    quiet_hub_logging()
    result = hub.search(
        args.task,
        settings=get_settings(),
        search=args.search,
        author=args.author,
        language=args.language,
        license=args.license,
        min_parameters=args.min_params,
        max_parameters=args.max_params,
        include_gated=not args.no_gated,
        include_local=not args.no_local,
        sort=args.sort,
        limit=args.limit,
    )
    if result.notice:
        print(f"note: {result.notice}", file=sys.stderr)
    if args.json:
        print(json.dumps([c.to_dict() for c in result.candidates], indent=2))
    else:
        print(render_table(result.candidates))
    return 0


def quiet_hub_logging() -> None:
    """huggingface_hub logs each retry and httpx2 each request; the notice says what matters once."""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()
    for name in ("httpx2", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def render_table(candidates: tuple[hub.ModelCandidate, ...]) -> str:
    if not candidates:
        return "No candidates found. Try another --task, a shorter --search, or add folders to MSD_MODEL_DIRS."
    rows = [COLUMNS] + [table_row(c) for c in candidates]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines + ["", LEGEND])


def table_row(c: hub.ModelCandidate) -> tuple[str, ...]:
    return (
        c.id,
        c.origin,
        ",".join(KIND_NAMES.get(k, k) for k in c.kinds) or "-",
        f"{c.downloads:,}" if c.downloads is not None else "-",
        f"{c.likes:,}" if c.likes is not None else "-",
        human_count(c.parameters),
        c.last_modified.date().isoformat() if c.last_modified else "-",
        "".join(CHECK_LETTERS[check.name] if check.ok else "-" for check in c.checks),
    )


def human_count(count: int | None) -> str:
    """17453 -> '17.5K'; unknown stays '?'."""
    if count is None:
        return "?"
    for suffix, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.1f}{suffix}"
    return str(count)

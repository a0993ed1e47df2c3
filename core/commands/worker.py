"""`python -m core worker`: run queued jobs until stopped (the dashboard starts one if none is alive)."""

from __future__ import annotations

import argparse
import logging

from core.worker import serve


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--until-idle", action="store_true", help="exit once no job is queued or running")
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)  # the lock handed over by ensure_worker()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(until_idle=args.until_idle, inherited_lock_fd=args.lock_fd)

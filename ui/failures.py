"""What the browser sees when a page breaks: a sentence and an error id, never the details."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

log = logging.getLogger("dashboard")


@contextmanager
def reported(where: str) -> Iterator[None]:
    """Log an unexpected error with an id (tokens are redacted from log records) and show only the id."""
    try:
        yield
    except Exception:  # noqa: BLE001 - Streamlit's rerun/stop signals are BaseExceptions and pass through
        error_id = uuid.uuid4().hex[:8]
        log.exception("%s failed (error id %s)", where, error_id)
        st.error(f"Something went wrong in the {where} (error id {error_id}). Nothing saved is lost; "
                 "the details are in the server log under that id.")

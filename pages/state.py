"""What one browser session builds up, kept in `st.session_state` under typed accessors.

Only plain session state, never module globals or shared caches: two sessions never see
each other's sample, shortlist or results. The run being looked at lives in the URL
(`?run=ID`) so a link to it can be shared.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from core.dataset import LabeledSample
from core.shortlist import Shortlist
from core.store import Store

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
#: Per script thread: whether the current run went through streamlit_app.py.
_script_run = threading.local()


def shortlist() -> Shortlist:
    if "shortlist" not in st.session_state:
        st.session_state["shortlist"] = Shortlist()
    return st.session_state["shortlist"]


def sample() -> LabeledSample | None:
    return st.session_state.get("sample")


def set_sample(value: LabeledSample, *, raw: bytes, name: str) -> None:
    st.session_state["sample"] = value
    st.session_state["sample_upload"] = (name, raw)


def sample_upload() -> tuple[str, bytes] | None:
    """The bytes of the file the current sample came from, so its columns can be picked again."""
    return st.session_state.get("sample_upload")


def label_descriptions() -> dict[str, str]:
    return st.session_state.setdefault("label_descriptions", {})


def current_run() -> str | None:
    """The run in the URL; after a switch of pages (the navigation drops `?run=`), the one this
    session looked at last, put back in the URL so the link stays shareable."""
    in_url = st.query_params.get("run")
    if in_url:
        st.session_state["run"] = in_url
        return in_url
    remembered = st.session_state.get("run")
    if remembered:
        st.query_params["run"] = remembered
    return remembered


def show_run(run_id: str) -> None:
    st.query_params["run"] = run_id
    st.session_state["run"] = run_id


def store() -> Store:
    """A store per session: cheap to open, and nothing about one user lives in a shared object."""
    if "store" not in st.session_state:
        st.session_state["store"] = Store()
    return st.session_state["store"]


def user() -> str | None:
    """Who is signed in (core/access.py); None when sign-in is off."""
    from pages.signin import visitor

    return visitor().user


def md(text: object) -> str:
    """Text from outside (ids, labels, file names) made inert inside Markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))



@contextmanager
def through_entry_point() -> Iterator[None]:
    """Mark the page run as started by streamlit_app.py (see `start_page`)."""
    _script_run.from_entry_point = True
    try:
        yield
    finally:
        _script_run.from_entry_point = False


def start_page() -> None:
    """Make sure the entry point (navigation, sidebar) runs this page, even on a deep link.

    Because a `pages/` folder exists, Streamlit 1.67 starts each server process in its legacy
    multipage mode and runs a page opened directly by URL (say a shared /compare?run=ID) on its
    own, without streamlit_app.py, until some session has called `st.navigation`. Such a page
    switches the legacy mode off for the process and reruns at once, through the entry point, so
    its widgets get the identities every later run will use.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not getattr(_script_run, "from_entry_point", False) and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()

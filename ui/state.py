"""What one browser session builds up, kept in `st.session_state` under typed accessors.

Only plain session state, never module globals or shared caches: two sessions never see
each other's sample, shortlist or results. The run being looked at lives in the URL
(`?run=ID`) so a link to it can be shared.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from core import markdown
from core.dataset import LabeledSample
from core.errors import AppError
from core.settings import get_settings
from core.shortlist import Shortlist
from core.store import Store
from core.working_set import SampleFile, WorkingSet

log = logging.getLogger(__name__)
#: Pages escape text from outside as state.md(...): the project's one Markdown escaper.
md = markdown.md
#: The cookie that keys a browser's working set while sign-in is off: 32 random hex digits.
BROWSER_COOKIE = "msd_browser"
_BROWSER_ID = re.compile(r"[0-9a-f]{32}")
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
    st.session_state["sample_file"] = SampleFile.of(value, name=name, raw=raw)


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
    """Remember the run first: a rerun that cuts this script run short at the URL update (Streamlit
    stops a run at its next st call) must still find the run, so its progress shows."""
    st.session_state["run"] = run_id
    st.query_params["run"] = run_id


def store() -> Store:
    """The results store: one per database for the whole server process (one engine, one connection
    pool), shared by every session; a `Store` keeps nothing about any user and is safe across threads."""
    return _store_for(get_settings().database_url)


@st.cache_resource(show_spinner=False)
def _store_for(database_url: str) -> Store:
    return Store(database_url)


def user() -> str | None:
    """Who is signed in (core/access.py); None when sign-in is off."""
    from ui.signin import visitor

    return visitor().user


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

    The one reach into Streamlit's internals in this project: Streamlit 1.67 decides the mode from
    the folder's existence (`PagesManager.__init__`) and offers no setting to skip it
    (`client.showSidebarNavigation` only hides the list). tests/test_browser.py opens a deep link
    as the first visit of a fresh `streamlit run` (the SIGKILL test) to keep this honest.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not getattr(_script_run, "from_entry_point", False) and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# -- the working set: kept in the results store, restored on reload and in new tabs ------------


def working_set_key() -> str:
    """The user when signed in; else this browser's random id, kept in a cookie (given on first visit)."""
    if user():
        return f"user:{user()}"
    sent = st.context.cookies.get(BROWSER_COOKIE)
    if isinstance(sent, str) and _BROWSER_ID.fullmatch(sent):  # (AppTest has no cookies to send)
        return f"browser:{sent}"
    browser_id = st.session_state.setdefault("browser_id", secrets.token_hex(16))
    give_browser_cookie(browser_id)  # every run until a new connection sends it back (a run may be cut short)
    return f"browser:{browser_id}"


def give_browser_cookie(browser_id: str) -> None:
    """Set the cookie from the page: Streamlit has no call for it. Only our own random hex digits are
    written into the script, never anything from outside."""
    assert _BROWSER_ID.fullmatch(browser_id)
    secure = "(location.protocol === 'https:' ? '; Secure' : '')"
    with st.sidebar:  # out of the page's way; the element itself shows nothing
        st.html(f"<script>document.cookie = '{BROWSER_COOKIE}={browser_id}; path=/; max-age=31536000; SameSite=Strict' + {secure};</script>",
                unsafe_allow_javascript=True)


#: The rules editor's document (ui.rules_editor), part of the working set.
RULES_DOCUMENT = "rules_document"


def current_working_set() -> WorkingSet:
    return WorkingSet(shortlist(), st.session_state.get("sample_file"), dict(label_descriptions()), st.session_state.get("run"),
                      st.session_state.get(RULES_DOCUMENT))


def restore_working_set() -> None:
    """Once per browser session: bring back what this person had (a reload, a new tab)."""
    if st.session_state.get("working_set_checked"):
        return
    st.session_state["working_set_checked"] = True
    stored = store().load_working_set(working_set_key())
    if stored is None:
        return
    try:
        kept = WorkingSet.from_json(*stored)
        sample_value = kept.sample.load() if kept.sample else None
    except (AppError, ValueError, KeyError, TypeError) as error:  # an older or damaged document: start afresh
        log.warning("working set not restored: %s", error)
        return
    st.session_state["shortlist"] = kept.shortlist
    if sample_value is not None:
        set_sample(sample_value, raw=kept.sample.raw, name=kept.sample.name)
    st.session_state["label_descriptions"] = dict(kept.label_descriptions)
    if kept.rules:
        st.session_state[RULES_DOCUMENT] = kept.rules
    if kept.run_id and not st.query_params.get("run"):
        st.session_state["run"] = kept.run_id
    st.session_state["working_set_saved"] = kept.fingerprint()


def save_working_set() -> None:
    """Keep this run's working set when it changed (cheap otherwise: one hash, no write)."""
    current = current_working_set()
    fingerprint = current.fingerprint()
    if st.session_state.get("working_set_saved") == fingerprint:
        return
    file = current.sample
    store().save_working_set(working_set_key(), current.to_json(), file.raw if file else None)
    st.session_state["working_set_saved"] = fingerprint


def start_over() -> None:
    """Forget the working set, here and in the store."""
    store().forget_working_set(working_set_key())
    for name in ("shortlist", "sample", "sample_upload", "sample_file", "label_descriptions", "run", "working_set_saved",
                 RULES_DOCUMENT):
        st.session_state.pop(name, None)
    st.query_params.pop("run", None)


"""The sidebar on every page: where models come from, what devices run them, the worker and queue."""

import streamlit as st

from core import supervision
from core.backend_status import backend_sentence
from core.devices import detect_devices
from core.settings import get_settings
from core.hub_status import MIRROR, ONLINE, hub_status
from ui import state

HUB_BADGES = {ONLINE: "Hub: online", MIRROR: "Hub: mirror", "offline": "Hub: offline"}
#: How often the worker line refreshes itself (and replaces a dead worker) while a page sits open.
STATUS_REFRESH_S = 2.0


def render() -> None:
    with st.sidebar:
        hub_line()
        st.caption("Devices: " + ", ".join(d.name for d in detect_devices()))
        session_line()
        with st.container():  # last, in its own container: the fragment redraws only what is its own
            worker_line()


def hub_line() -> None:
    status = hub_status()
    st.markdown(f"**{HUB_BADGES[status.state]}**")
    st.caption(state.md(status.sentence))


@st.fragment(run_every=STATUS_REFRESH_S)
def worker_line() -> None:
    """The worker and the queue, refreshed while the page sits open; a dead worker is replaced here."""
    healing = supervision.heal(state.store())
    queued = state.store().queued_runs()
    alive = supervision.worker_alive()
    st.caption(f"Worker: {'running' if alive else 'not running (starts with the first run)'};"
               f" {len(queued)} job(s) waiting.")
    st.caption(state.md(backend_sentence(get_settings())))
    if healing.interrupted:
        st.caption(healing_sentence(healing))


def healing_sentence(healing: supervision.Healing) -> str:
    stopped = len(healing.interrupted)
    again = f"{len(healing.resumed)} queued again by itself" if healing.resumed else "none queued again (resume by hand)"
    started = "; a new worker started" if healing.started_worker else ""
    return f"The worker had stopped: {stopped} run(s) marked interrupted, {again}{started}."


def session_line() -> None:
    sample, shortlist = state.sample(), state.shortlist()
    rows = f"{len(sample)} rows" if sample is not None else "none"
    st.caption(f"Shortlist: {len(shortlist.entries)} model(s). Sample: {rows}.")
    if (sample is not None or shortlist.entries) and st.button(
            "Start over", help="Your shortlist and sample are kept for a reload or another tab; this forgets them."):
        state.start_over()
        st.rerun()

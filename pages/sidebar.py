"""The sidebar on every page: where models come from, what devices run them, the worker and queue."""

import streamlit as st

from core.devices import detect_devices
from core.hub_status import MIRROR, ONLINE, hub_status
from core.worker import worker_alive
from pages import state

HUB_BADGES = {ONLINE: "Hub: online", MIRROR: "Hub: mirror", "offline": "Hub: offline"}


def render() -> None:
    with st.sidebar:
        hub_line()
        st.caption("Devices: " + ", ".join(d.name for d in detect_devices()))
        worker_line()
        session_line()


def hub_line() -> None:
    status = hub_status()
    st.markdown(f"**{HUB_BADGES[status.state]}**")
    st.caption(state.md(status.sentence))


def worker_line() -> None:
    queued = state.store().queued_runs()
    alive = worker_alive()
    st.caption(f"Worker: {'running' if alive else 'not running (starts with the first run)'};"
               f" {len(queued)} job(s) waiting.")


def session_line() -> None:
    sample, shortlist = state.sample(), state.shortlist()
    rows = f"{len(sample)} rows" if sample is not None else "none"
    st.caption(f"Shortlist: {len(shortlist.entries)} model(s). Sample: {rows}.")

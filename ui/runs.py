"""Choosing the run a page shows: the one in the URL, or one picked from the list."""

from datetime import datetime

import streamlit as st

from core.store import RunSummary
from ui import state


def label(run: RunSummary) -> str:
    when = datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    return f"{when} - {run.sample_source} ({run.sample_rows} rows), {run.trials_total} trials, {run.status} [{run.id[:8]}]"


def visible(run_id: str) -> bool:
    """Whether the person in this session may see the run (theirs, shared, or sign-in is off)."""
    return state.store().is_visible(run_id, state.user())


def pick_run() -> str | None:
    """The run id to show; picking another one puts it in the URL so the link can be shared."""
    available = state.store().list_runs(visible_to=state.user())
    if not available:
        st.info("No runs yet. Start one on the Evaluate page.")
        return None
    ids = [run.id for run in available]
    current = state.current_run()
    if current and current not in ids and visible(current):  # an older run than the list holds, from a link
        available.insert(0, state.store().run_summary(current))
        ids.insert(0, current)
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox("Run", available, index=index, format_func=label)
    if chosen.id != current:
        state.show_run(chosen.id)
    return chosen.id

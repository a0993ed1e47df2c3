"""The demo classifier on Home (its build, in the background) and the models every server has on Discover."""

import pandas as pd
import streamlit as st

from core import hub
from core.demo_models import BUILDER, DEMO_CLASSIFIER, demo_root
from core.paths import EXAMPLE_SAMPLE
from core.settings import get_settings
from core.shortlist import with_labels
from ui import state

POLL_S = 1.0


def start_build_at_first_start() -> None:
    """Start the background build once per server (unless MSD_DEMO_BUILD=off); a no-op when built or running."""
    settings = get_settings()
    if settings.demo_build and BUILDER.status.state == "idle":
        BUILDER.start(EXAMPLE_SAMPLE, demo_root(settings) / DEMO_CLASSIFIER)


def build_panel() -> None:
    """Home: the demo build's progress, refreshed every second while it runs; a button to (re)build."""
    st.subheader("Try it now, no Hub needed")
    st.write("The MiniLM encoder ships with the requirements, and a demo classifier is fitted over it in "
             "seconds: with the majority and TF-IDF baselines, a real comparison runs on this server even when "
             "the Hugging Face Hub cannot be reached. The demo classifier is fitted on the shipped sample itself, "
             "so its scores on that sample are optimistic.")
    folder = demo_root(get_settings()) / DEMO_CLASSIFIER
    polling = BUILDER.status_for(folder).state == "building"

    @st.fragment(run_every=POLL_S if polling else None)  # refreshes itself only while a build runs
    def panel() -> None:
        status = BUILDER.status_for(folder)
        if status.state == "building":
            st.progress(min(status.fraction, 1.0), text=f"Building the demo classifier: {state.md(status.message)}")
        elif status.state == "ready":
            st.success(state.md(status.message))
        elif status.state == "failed":
            st.error(state.md(status.message))
        if status.state in ("idle", "failed") and st.button("Build the demo classifier", key="build-demo"):
            BUILDER.start(EXAMPLE_SAMPLE, folder)
            st.rerun()  # the whole page, so the panel polls while the build runs

    panel()


def starter_panel() -> None:
    """Discover: the models every server has, offered before any search, with one button to shortlist them."""
    st.subheader("Ready on this server")
    starters = hub.starter_candidates()
    ids = ", ".join(c.id for c in starters) or "none"
    st.caption(f"No Hub needed: {state.md(ids)}. The majority and TF-IDF baselines run with every evaluation.")
    if not any(c.id == DEMO_CLASSIFIER for c in starters):
        building = BUILDER.status.state == "building"
        st.caption("The demo classifier is being built (Home shows its progress); reload to see it here." if building
                   else "The demo classifier is not built yet: Home builds it in seconds.")
    if not starters:
        return
    # A static table: Discover's first data frame is the search results' (its row selection).
    st.table(pd.DataFrame([{"model": c.id, "fits": ", ".join(c.kinds), "labels": ", ".join(c.labels or ()),
                            "parameters (M)": round(c.parameters / 1e6, 1) if c.parameters else None}
                           for c in starters]).set_index("model"))
    if st.button("Add them to the shortlist", key="add-starters"):
        added = sum(state.shortlist().add(with_labels(c)) for c in starters)
        st.success(f"Added {added} model(s); {len(starters) - added} already on the shortlist.")

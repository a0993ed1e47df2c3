"""Compare's control that adds ensembles of a finished run's trials to it (no model runs again)."""

from __future__ import annotations

import streamlit as st

from core.ensembles import METHODS, UNINFORMED, EnsembleSpec, add_to_stored_run
from core.errors import AppError
from core.results import RunResult
from ui import state

HELP = {"vote": "the label most members predict", "mean": "the mean of the members' probabilities",
        "rules-first": "a rules member's label where a rule fired, else the mean of the others",
        "stack": "logistic regression over the members' probabilities, cross-validated"}


def ensemble_control(run_id: str, run: RunResult) -> None:
    candidates = [t.key for t in run.results if t.ok and not t.is_ensemble]
    if len(candidates) < 2:
        return
    with st.expander("Add ensembles of these trials (no model runs again)"):
        default = [key for key in candidates if key != UNINFORMED]
        methods = st.multiselect("Ensemble methods", list(METHODS), default=["vote"], key="ensemble-methods",
                                 help="; ".join(f"{m}: {text}" for m, text in HELP.items()))
        members = st.multiselect("Members", candidates, default=default, key="ensemble-members")
        if st.button("Add ensembles", disabled=not methods or len(members) < 2):
            add(run_id, methods, [] if members == default else members)


def add(run_id: str, methods: list[str], members: list[str]) -> None:
    specs = [EnsembleSpec(method, tuple(members)) for method in methods]
    try:
        added = add_to_stored_run(state.store(), run_id, specs, by=state.user())
    except AppError as error:
        st.error(state.md(error.sentence))
        return
    for trial in added:
        if not trial.ok:
            st.error(state.md(f"{trial.key}: {trial.error}"))
    if not added:
        st.info("Those ensembles are in the run already.")
        return
    st.rerun()

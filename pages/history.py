"""History: past runs with their sample, models and headline numbers; open one, or delete it."""

from datetime import datetime

import pandas as pd
import streamlit as st

from core import supervision
from core.errors import AppError
from core.store import RESUMABLE, RunSummary
from ui import state


def runs_frame(runs: list[RunSummary]) -> pd.DataFrame:
    return pd.DataFrame([{
        "started": datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M"), "by": r.started_by or "-",
        "status": r.status, "sample": r.sample_source, "rows": r.sample_rows, "models": ", ".join(r.models),
        "trials ok": f"{r.trials_ok}/{r.trials_total}", "ran on": r.backend or "-",
        "best accuracy": round(r.best_accuracy, 4) if r.best_accuracy is not None else None, "run": r.id[:8],
    } for r in runs])


def actions(run: RunSummary) -> None:
    st.caption(f"Run {run.id}: {state.md(run.sample_source)}, {run.sample_rows} rows, sample sha256 {run.sample_sha256[:12]}...")
    open_it, report, share, resume, delete = st.columns(5)
    open_it.page_link("pages/compare.py", label="Open in Compare", query_params={"run": run.id})
    report.page_link("pages/report.py", label="Download its report", query_params={"run": run.id})
    if run.started_by != state.user():  # a run shared with everyone: theirs to share or delete
        return
    if run.started_by is not None:
        share_toggle(share, run)
    if run.status in RESUMABLE and resume.button("Resume: run its unfinished trials", key=f"resume-{run.id}"):
        resume_run(run.id)
    with delete.popover("Delete this run"):
        st.write("This deletes the run, its trials, predictions and stored sample rows. It cannot be undone.")
        if st.button("Delete for good", type="primary", key=f"delete-{run.id}"):
            delete_run(run.id)


def share_toggle(column, run: RunSummary) -> None:
    shared = column.toggle("Shared with everyone", value=run.shared, key=f"share-{run.id}")
    if shared != run.shared:
        state.store().set_shared(run.id, shared, by=state.user())
        st.rerun()


def resume_run(run_id: str) -> None:
    try:
        count = state.store().resume(run_id, by=state.user())
    except AppError as error:  # nothing left to run
        st.error(state.md(error.sentence))
        return
    supervision.ensure_worker(store=state.store())
    st.success(f"{count} unfinished trial(s) queued again; follow them in Compare.")


def delete_run(run_id: str) -> None:
    try:
        state.store().delete_run(run_id, by=state.user())
    except AppError as error:  # a running job: cancel it first
        st.error(state.md(error.sentence))
        return
    st.rerun()


state.start_page()

st.title("History")
runs = state.store().list_runs(visible_to=state.user())
if not runs:
    st.info("No runs yet. Start one on the Evaluate page.")
else:
    picked = st.dataframe(runs_frame(runs), hide_index=True, on_select="rerun", selection_mode="single-row", key="runs")
    if picked.selection.rows:
        actions(runs[picked.selection.rows[0]])
    else:
        st.caption("Select a run to open, export or delete it.")

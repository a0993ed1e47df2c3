"""Live progress of a job, polled from the store, so it survives page switches and reloads."""

import streamlit as st

from core import supervision
from core.access import may_change_run
from core.errors import InputError
from core.settings import get_settings
from core.store import QUEUED, RUNNING, JobProgress
from ui import state

POLL_S = 1.0


def live(run_id: str) -> None:
    """A panel that refreshes itself every second while the job is queued or running."""
    st.subheader("Progress")

    @st.fragment(run_every=POLL_S)
    def panel() -> None:
        supervision.heal(state.store())  # a worker that died is noticed within a second, and replaced
        try:
            job = state.store().job_progress(run_id)
        except InputError:
            st.error(f"Run {state.md(run_id)} does not exist (deleted?). Start a new one above.")
            return
        show(job)
        if job.status in (QUEUED, RUNNING) and may_change_run(state.store().run_owner(run_id), state.user()) \
                and st.button("Cancel this run", key=f"cancel-{run_id}"):
            state.store().request_cancel(run_id, by=state.user())
            st.info("Cancelling: the current trial stops within a few seconds; finished trials are kept.")
        if job.status not in (QUEUED, RUNNING):
            st.page_link("pages/compare.py", label="See the results in Compare", query_params={"run": run_id})

    panel()


def resumed_sentence(times: int) -> str:
    return (f"The worker stopped during this run and it was queued again by itself ({times} time(s), at most "
            f"{get_settings().auto_resume_attempts}); the trials finished before each stop are kept.")


def show(job: JobProgress) -> None:
    if job.failure:
        st.error(state.md(job.failure))
    if job.auto_resumes:
        st.caption(resumed_sentence(job.auto_resumes))
    if job.status == QUEUED:
        st.info(f"Queued: position {job.queue_position} in the queue." if job.queue_position else "Queued.")
        return
    done = job.trials_finished / job.trial_count if job.trial_count else 0.0
    st.progress(done, text=f"{job.trials_finished} of {job.trial_count} trials finished ({job.status})")
    if job.status == RUNNING and job.trial_name:
        rows = job.rows_done / job.rows_total if job.rows_total else 0.0
        left = f", about {job.eta_s:.0f} s left" if job.eta_s is not None else ""
        st.progress(min(rows, 1.0), text=f"{state.md(job.trial_name)}: {job.step}, {job.rows_done:.0f}/{job.rows_total} "
                                         f"{job.unit}, {job.elapsed_s:.0f} s elapsed{left}")

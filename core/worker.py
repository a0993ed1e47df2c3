"""The background worker: runs queued jobs, each trial in its own child process (core.trial_process).

A model that crashes, runs out of memory or hangs takes down only its own child; the
worker writes an error row and goes on. Progress reaches the store every half second
while a trial runs; each ended trial is committed at once, so a killed worker loses
nothing that ended, and its children end with it. One worker per machine (per data
directory) holds a file lock; core.supervision owns the lock, starting workers and healing
after one died.

Jobs run in threads of the worker, at most one per GPU and `cpu_jobs` on the CPU; SIGTERM
or Ctrl-C stops the running trials and marks them interrupted, to be resumed later. With
MSD_RAY_ADDRESS set, every queued job starts and its trials run at once as Ray tasks on the
cluster instead of child processes here (core.ray_trials); the rest is the same.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import asdict

import sqlalchemy as sa

from core.dataset import LabeledSample
from core.errors import AppError
from core.race_job import run_race_job
from core.racing import RaceSettings
from core.runner import TrialSpec, assemble_run, new_result
from core.settings import Settings, get_settings
from core.store import (
    CANCELLED, DONE, FAILED, INTERRUPTED, RunOptions, Store, explain_store_failure, job_devices, startable_jobs,
    this_host,
)
from core.schema import StoreError
from core.supervision import hold_worker_lock, mark_interrupted, resume_interrupted
from core.trial_process import TrialOutcome, TrialProcess, TrialState, stop_sentence

log = logging.getLogger(__name__)
#: How often a worker tries again while the results store cannot be written.
STORE_RETRY_S = 5.0
#: How often a worker on a Ray cluster looks at its nodes for the sidebar (core.backend_status).
CLUSTER_LOOK_S = 5.0


# -- submitting, and the machine's worker ---------------------------------------------------


def submit(store: Store, sample: LabeledSample, specs: list[TrialSpec], *, started_by: str | None = None,
           shared: bool = False, command: str | None = None, price_per_hour: dict[str, float] | None = None,
           race: RaceSettings | None = None) -> str:
    """Queue a job for the worker; returns the run id at once. With `race`, the trials race (core.racing)."""
    options = RunOptions(price_per_hour=dict(price_per_hour or {}), race=asdict(race) if race else None)
    return store.create_run(sample, [asdict(s) for s in specs], started_by=started_by, shared=shared, command=command,
                            options=options)


# -- one job: its pending trials in order ---------------------------------------------------


class Job:
    """A claimed run: runs its pending trials one after another, writing progress and results."""

    def __init__(self, store: Store, run_id: str, settings: Settings, stopping: threading.Event | None = None) -> None:
        self.store, self.run_id, self.settings = store, run_id, settings
        self.stopping = stopping or threading.Event()

    def run(self) -> str:
        """Run the pending trials (in order here, or all at once on the Ray cluster); returns the job's final status."""
        sample = self.store.load_sample(self.run_id)
        race = self.store.run_options(self.run_id).race
        if race is not None:  # a race runs its rounds on this machine, also with MSD_RAY_ADDRESS set
            run_race_job(self, sample, RaceSettings(**race))
            return self.finish(sample)
        pending = self.store.pending_trials(self.run_id)
        if self.settings.ray_address:
            from core.ray_trials import run_job_on_cluster

            run_job_on_cluster(self, pending, sample)
        else:
            self.run_in_order(pending, sample)
        return self.finish(sample)

    def run_in_order(self, pending: list[tuple[int, dict]], sample: LabeledSample) -> None:
        for position, spec in pending:
            if self.stop_reason():
                break
            outcome = self.run_trial(position, spec, sample)
            self.store.save_trial(self.run_id, position, outcome.result, status=outcome.status)
            if outcome.status in (CANCELLED, INTERRUPTED):
                break

    def run_trial(self, position: int, spec: dict, sample: LabeledSample) -> TrialOutcome:
        self.store.start_trial(self.run_id, position)
        name = spec.get("model") or spec["kind"]
        started_at = time.time()

        def on_progress(state: TrialState) -> None:
            self.write_progress(trial_position=position, trial_name=name, trial_started_at=started_at,
                                step=state.step, rows_done=state.rows_done, rows_total=state.rows_total,
                                step_started_at=state.step_started_at)

        outcome = TrialProcess(spec, sample, self.settings, on_progress=on_progress, should_stop=self.stop_reason).run()
        stop = self.stop_reason()
        if outcome.status == "error" and stop:  # killed on the way down (a service stop signals everyone)
            outcome = TrialOutcome(stop, new_result(TrialSpec(**spec), self.settings, error=stop_sentence(stop)))
        return outcome

    def stop_reason(self) -> str | None:
        if self.store.cancel_requested(self.run_id):
            return CANCELLED
        return INTERRUPTED if self.stopping.is_set() else None

    def write_progress(self, **values) -> None:
        try:
            self.store.write_progress(self.run_id, **values)
        except (sa.exc.OperationalError, StoreError) as error:  # a busy or read-only database must not stop the trial
            log.warning("could not write progress of %s: %s", self.run_id, error)

    def finish(self, sample: LabeledSample) -> str:
        stop = self.stop_reason()
        if stop == CANCELLED:
            for position, spec in self.store.pending_trials(self.run_id):
                row = new_result(TrialSpec(**spec), self.settings, error="Cancelled before it started.")
                self.store.save_trial(self.run_id, position, row, status=CANCELLED)
        run = self.store.load_run(self.run_id)
        finished = assemble_run(sample, run.results, command=run.command)
        status = stop or (DONE if finished.succeeded else FAILED)
        self.store.finish_run(self.run_id, finished, status=status)
        return status


def run_job(store: Store, run_id: str, settings: Settings, stopping: threading.Event | None = None) -> str:
    """Run a claimed job's pending trials in order; returns the job's final status."""
    return Job(store, run_id, settings, stopping).run()


# -- the worker loop ------------------------------------------------------------------------


def backend_name(settings: Settings, host: str) -> str:
    """Where this worker runs trials, as History shows it."""
    return f"Ray cluster at {settings.ray_address}" if settings.ray_address else f"local worker on {host}"


class Worker:
    """Runs jobs in threads (each trial in a child process) until stopped."""

    def __init__(self, store: Store, settings: Settings | None = None, *, stopping: threading.Event | None = None) -> None:
        self.store = store
        self.settings = settings or get_settings()
        self.host = this_host()
        self.backend = backend_name(self.settings, self.host)
        self.busy: dict[str, set[str]] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.stopping = stopping or threading.Event()
        self.recovered = False
        self.unrecorded: dict[str, Exception] = {}  # failed jobs whose failure the store did not take yet
        self.store_trouble: str | None = None
        self.next_cluster_look = 0.0

    def recover(self) -> list[str]:
        """After a worker on this machine died: its running trials and runs become interrupted,
        and are queued again within the auto-resume limit (when nobody healed them first)."""
        interrupted = mark_interrupted(self.store, self.settings, host=self.host)
        resume_interrupted(self.store, interrupted, self.settings)
        return interrupted

    def schedule(self) -> list[str]:
        """Start every queued job whose devices are free; returns the run ids started."""
        queued = [(run_id, job_devices(plan)) for run_id, plan in self.store.queued_runs()]
        devices = dict(queued)
        started = []
        for run_id in self.startable(queued):
            if not self.store.claim(run_id, host=self.host, backend=self.backend):
                continue  # cancelled, or taken by a worker on another machine sharing the database
            self.busy[run_id] = devices[run_id]
            self.threads[run_id] = threading.Thread(target=self._run_job, args=(run_id,), name=f"job-{run_id[:8]}")
            self.threads[run_id].start()
            started.append(run_id)
        return started

    def startable(self, queued: list[tuple[str, set[str]]]) -> list[str]:
        """Here: one job per GPU and `cpu_jobs` on the CPU. On Ray every job starts; Ray queues its trials."""
        if self.settings.ray_address:
            return [run_id for run_id, _ in queued]
        return startable_jobs(queued, list(self.busy.values()), cpu_jobs=self.settings.cpu_jobs)

    def _run_job(self, run_id: str) -> None:
        try:
            status = run_job(self.store, run_id, self.settings, self.stopping)
            log.info("run %s ended: %s", run_id, status)
        except Exception as error:  # noqa: BLE001 - a broken job must not stop the worker
            log.exception("job %s failed", run_id)
            self.record_failure(run_id, error)

    def record_failure(self, run_id: str, error: Exception) -> None:
        """Mark the job failed with a sentence saying why; committed trials stay as they are."""
        sentence = error.sentence if isinstance(error, AppError) and not isinstance(error, StoreError) else explain_store_failure(error)
        try:
            running = self.store.running_trials(host=self.host).get(run_id, [])
            self.store.set_run_status(run_id, FAILED, failure=sentence)
            self.store.clear_progress(run_id)
            for position, spec in running:  # marked, so resuming the run runs them again
                row = new_result(TrialSpec(**spec), self.settings, error=sentence)
                self.store.save_trial(run_id, position, row, status=INTERRUPTED)
            self.unrecorded.pop(run_id, None)
        except Exception:  # noqa: BLE001 - the store may still be unwritable (a full disk): tried again
            log.exception("could not mark run %s failed; trying again while the worker runs", run_id)
            self.unrecorded[run_id] = error

    def reap(self) -> None:
        for run_id, thread in list(self.threads.items()):
            if not thread.is_alive():
                del self.threads[run_id], self.busy[run_id]

    def serve(self, *, until_idle: bool = False) -> None:
        """Poll for jobs until stopped (or, with `until_idle`, until nothing is queued or running).
        A results store that cannot be written is said once in the log and tried again; the worker stays."""
        while not self.stopping.is_set():
            try:
                if self.poll() and until_idle:
                    return
                self.store_trouble = None
            except StoreError as error:
                self.note_store_trouble(error)
            self.stopping.wait(self.settings.worker_poll_s if self.store_trouble is None else STORE_RETRY_S)
        for thread in self.threads.values():  # jobs stop their trials and mark them interrupted
            thread.join()

    def poll(self) -> bool:
        """One round: recover once, reap ended jobs, record failures left over, start what can start.
        True when nothing is queued or running."""
        if not self.recovered:
            self.recover()
            self.recovered = True
        self.look_at_cluster()
        self.reap()
        for run_id, error in list(self.unrecorded.items()):
            self.record_failure(run_id, error)
        self.schedule()
        return not self.threads and not self.store.queued_runs()

    def look_at_cluster(self) -> None:
        """On a Ray cluster: every CLUSTER_LOOK_S, leave its nodes and free resources for the sidebar."""
        if not self.settings.ray_address or time.monotonic() < self.next_cluster_look:
            return
        from core.ray_trials import report_cluster

        status = report_cluster(self.settings)
        if status.error:
            log.error("%s", status.error)
        self.next_cluster_look = time.monotonic() + CLUSTER_LOOK_S * (6 if status.error else 1)

    def note_store_trouble(self, error: StoreError) -> None:
        if error.sentence != self.store_trouble:
            log.error("%s The worker keeps running and tries again every %.0f s.", error.sentence, STORE_RETRY_S)
        self.store_trouble = error.sentence


def open_store(settings: Settings, stopping: threading.Event) -> Store | None:
    """The results store, waited for while it cannot be opened (said once in the log); None if stopped first."""
    said = None
    while not stopping.is_set():
        try:
            return Store(settings=settings)
        except StoreError as error:
            if error.sentence != said:
                log.error("%s The worker waits and tries again every %.0f s.", error.sentence, STORE_RETRY_S)
            said = error.sentence
            stopping.wait(STORE_RETRY_S)
    return None


def serve(settings: Settings | None = None, *, until_idle: bool = False, inherited_lock_fd: int | None = None) -> int:
    """`python -m core worker`: hold this machine's worker lock and run jobs until stopped."""
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = hold_worker_lock(settings, inherited_fd=inherited_lock_fd)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        store = open_store(settings, stopping)
        if store is not None:
            worker = Worker(store, settings, stopping=stopping)
            log.info("worker %s started on %s with data in %s", os.getpid(), worker.host, settings.data_dir)
            worker.serve(until_idle=until_idle)
    finally:
        lock.close()
    log.info("worker %s stopped", os.getpid())
    return 0

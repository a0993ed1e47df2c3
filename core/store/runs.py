"""The `Store`: every read and write of runs, one short transaction each."""

from __future__ import annotations

import errno
import json

import sqlalchemy as sa

from core.access import may_change_run
from core.dataset import LabeledSample
from core.errors import InputError
from core.metrics import PairedTest
from core.results import ENSEMBLE_PREFIX, DatasetSummary, RowPrediction, RunResult, TrialResult
from core.schema import create_engine, migrate, now, predictions, progress, runs, sample_rows, trials, working_sets
from core.settings import Settings, get_settings
from core.store.model import (
    ACTIVE, CANCELLED, DONE, FINISHED_TRIAL, PENDING, QUEUED, RESUMABLE, RUNNING, JobProgress, RunOptions, RunSummary,
)
from core.store.queue import job_devices
from core.slices import metadata_of
from core.store.rows import (
    closing_values, insert_run, iso_time, prediction_of, progress_of, summary_of, trial_of, trial_row_of, write_trial,
)


class Store:
    """All reads and writes of runs."""

    def __init__(self, url: str | None = None, *, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.url = url or settings.database_url
        self.engine = create_engine(self.url)
        migrate(self.engine)

    # -- creating runs ---------------------------------------------------------------------

    def create_run(
        self, sample: LabeledSample, specs: list[dict], *, started_by: str | None = None, shared: bool = False,
        status: str = QUEUED, command: str | None = None, options: RunOptions | None = None,
    ) -> str:
        """Save a run with its sample rows and one pending trial per spec; returns the run id."""
        with self.engine.begin() as db:
            return insert_run(db, sample, specs, started_by=started_by, shared=shared, status=status, command=command,
                               options=options)

    def save_completed_run(self, sample: LabeledSample, specs: list[dict], result: RunResult, *,
                           started_by: str | None = None, shared: bool = False) -> str:
        """Store a run that already ran in this process (`evaluate --store`), in one transaction:
        interrupted (Ctrl-C, a full disk) it leaves nothing, never a run that looks running."""
        with self.engine.begin() as db:
            run_id = insert_run(db, sample, specs, started_by=started_by, shared=shared, status=RUNNING,
                                 command=result.command)
            for position, trial in enumerate(result.results):
                write_trial(db, run_id, position, trial)
            db.execute(runs.update().where(runs.c.id == run_id).values(status=DONE, **closing_values(result)))
        return run_id

    def rerun(self, run_id: str, *, started_by: str | None = None) -> str:
        """A new queued run with the same sample and plan (owned by `started_by`, else the same owner)."""
        row = self._run_row(run_id)
        owner = started_by or row.started_by
        plan = [spec for spec in self.load_plan(run_id) if not spec["kind"].startswith(ENSEMBLE_PREFIX)]
        return self.create_run(self.load_sample(run_id), plan, started_by=owner,
                               shared=row.shared, command=row.command, options=RunOptions.from_json(row.options_json))

    # -- the worker's writes -----------------------------------------------------------------

    def claim(self, run_id: str, *, host: str, backend: str | None = None) -> bool:
        """Atomically move a queued run to running; False if another worker took it first.
        `backend`: where its trials run (the local worker, or a Ray cluster), shown in History."""
        with self.engine.begin() as db:
            claimed = db.execute(
                runs.update().where(runs.c.id == run_id, runs.c.status == QUEUED)
                .values(status=RUNNING, worker_host=host, backend=backend or f"local worker on {host}",
                        started_at=now(), finished_at=None)
            ).rowcount
        return claimed == 1

    def start_trial(self, run_id: str, position: int) -> None:
        with self.engine.begin() as db:
            db.execute(trials.update().where(trials.c.run_id == run_id, trials.c.position == position)
                       .values(status=RUNNING, started_at=now(), finished_at=None))

    def save_trial(self, run_id: str, position: int, result: TrialResult, *, status: str | None = None) -> None:
        """Commit one ended trial with its predictions, in one transaction.

        `status` overrides the result's own ("ok"/"error") for trials that were cancelled or
        interrupted: they carry an error row but stay resumable.
        """
        with self.engine.begin() as db:
            write_trial(db, run_id, position, result, status=status)

    def set_run_status(self, run_id: str, status: str, **values) -> None:
        if status not in ACTIVE:
            values.setdefault("finished_at", now())
        with self.engine.begin() as db:
            db.execute(runs.update().where(runs.c.id == run_id).values(status=status, **values))

    def finish_run(self, run_id: str, result: RunResult, status: str = DONE) -> None:
        """Store the run-level parts (paired tests, warnings, environment) and close the run."""
        self.set_run_status(run_id, status, **closing_values(result))
        self.clear_progress(run_id)

    def append_trials(self, run_id: str, entries: list[tuple[dict, TrialResult]], result: RunResult) -> None:
        """Add trials built from the run's own finished ones (ensembles) after its last trial, with
        its paired tests and warnings from `result` (the run with them), in one transaction. Refused
        while the run is queued or running. They are not added to the plan: a rerun runs models only."""
        with self.engine.begin() as db:
            status = db.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar_one_or_none()
            if status is None:
                raise _no_run(run_id)
            if status in ACTIVE:
                raise InputError(f"Run {run_id} is {status}.", hint="Add ensembles once it has finished.")
            start = db.execute(sa.select(sa.func.count()).select_from(trials).where(trials.c.run_id == run_id)).scalar()
            db.execute(trials.insert(), [trial_row_of(run_id, start + i, spec) for i, (spec, _) in enumerate(entries)])
            for i, (_, trial) in enumerate(entries):
                write_trial(db, run_id, start + i, trial)
            values = closing_values(result)
            db.execute(runs.update().where(runs.c.id == run_id).values(
                comparisons_json=values["comparisons_json"], warnings_json=values["warnings_json"]))

    def write_progress(self, run_id: str, **values) -> None:
        """Upsert the job's progress row (trial_position, trial_name, step, rows_done, ...)."""
        values["updated_at"] = now()
        with self.engine.begin() as db:
            if not db.execute(progress.update().where(progress.c.run_id == run_id).values(**values)).rowcount:
                db.execute(progress.insert().values(run_id=run_id, **values))

    def clear_progress(self, run_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(progress.delete().where(progress.c.run_id == run_id))

    def running_trials(self, *, host: str) -> dict[str, list[tuple[int, dict]]]:
        """Runs marked running by a worker on `host`, with their running trials (for recovery)."""
        with self.engine.connect() as db:
            run_ids = db.execute(sa.select(runs.c.id).where(runs.c.status == RUNNING, runs.c.worker_host == host)).scalars().all()
            rows = db.execute(
                sa.select(trials.c.run_id, trials.c.position, trials.c.spec_json)
                .where(trials.c.run_id.in_(run_ids), trials.c.status == RUNNING).order_by(trials.c.position)
            ).all()
        found = {run_id: [] for run_id in run_ids}
        for row in rows:
            found[row.run_id].append((row.position, json.loads(row.spec_json)))
        return found

    # -- what users do -------------------------------------------------------------------------

    def run_owner(self, run_id: str) -> str | None:
        """Who started the run (None: nobody signed in)."""
        return self._run_row(run_id).started_by

    def check_may_change(self, run_id: str, user: str | None, action: str) -> None:
        """Refuse `action` on a run that is not `user`'s (core.access.may_change_run); None is anyone."""
        owner = self.run_owner(run_id)
        if not may_change_run(owner, user):
            raise InputError(f"Run {run_id} is {owner}'s: only they may {action} it.",
                             hint="Ask them, or run the same plan again as your own (History, rerun).")

    def request_cancel(self, run_id: str, *, by: str | None = None) -> bool:
        """Ask for a job to stop; a queued one is cancelled at once. False if it had already ended."""
        self.check_may_change(run_id, by, "cancel")
        with self.engine.begin() as db:
            asked = db.execute(runs.update().where(runs.c.id == run_id, runs.c.status.in_(ACTIVE))
                               .values(cancel_requested=True)).rowcount
            db.execute(runs.update().where(runs.c.id == run_id, runs.c.status == QUEUED)
                       .values(status=CANCELLED, finished_at=now()))
        if not asked:
            self._run_row(run_id)  # a clear error for an unknown id
        return bool(asked)

    def cancel_requested(self, run_id: str) -> bool:
        with self.engine.connect() as db:
            return bool(db.execute(sa.select(runs.c.cancel_requested).where(runs.c.id == run_id)).scalar())

    def auto_resumes(self, run_id: str) -> int:
        """How often the run was queued again by itself after its worker died."""
        return int(self._run_row(run_id).auto_resumes or 0)

    def resume(self, run_id: str, *, by: str | None = None, automatic: bool = False) -> int:
        """Queue a stopped run again so its unfinished trials run; returns how many will run.

        `automatic` counts the resume against the run's limit of self-resumes after worker deaths."""
        self.check_may_change(run_id, by, "resume")
        status = self._run_row(run_id).status
        if status not in RESUMABLE:
            raise InputError(f"Run {run_id} is {status}; only interrupted, cancelled or failed runs can be resumed.",
                             hint="Use rerun to run it again from the start.")
        with self.engine.begin() as db:
            unfinished = sa.select(trials.c.id).where(trials.c.run_id == run_id, trials.c.status.not_in(FINISHED_TRIAL))
            db.execute(predictions.delete().where(predictions.c.trial_id.in_(unfinished)))
            count = db.execute(trials.update().where(trials.c.id.in_(unfinished)).values(
                status=PENDING, error=None, result_json=None, accuracy=None, started_at=None, finished_at=None,
            )).rowcount
            if count:
                db.execute(runs.update().where(runs.c.id == run_id)
                           .values(status=QUEUED, cancel_requested=False, finished_at=None, failure=None,
                                   auto_resumes=runs.c.auto_resumes + (1 if automatic else 0)))
        if not count:
            raise InputError(f"Run {run_id} has no unfinished trials.", hint="Use rerun to run it again from the start.")
        return count

    def set_shared(self, run_id: str, shared: bool, *, by: str | None = None) -> None:
        self.check_may_change(run_id, by, "share")
        with self.engine.begin() as db:
            if not db.execute(runs.update().where(runs.c.id == run_id).values(shared=shared)).rowcount:
                raise _no_run(run_id)

    def delete_run(self, run_id: str, *, by: str | None = None) -> bool:
        """Delete a run and everything under it; False if there was none. Running jobs are refused."""
        if self._run_exists(run_id):
            self.check_may_change(run_id, by, "delete")
        with self.engine.begin() as db:
            deleted = db.execute(runs.delete().where(runs.c.id == run_id, runs.c.status != RUNNING)).rowcount
        if not deleted and self._run_exists(run_id):
            raise InputError(f"Run {run_id} is running and cannot be deleted.", hint="Cancel it first, then delete it.")
        return bool(deleted)

    # -- reading -------------------------------------------------------------------------------

    def queued_runs(self) -> list[tuple[str, list[dict]]]:
        """Queued runs, oldest first, with their plans (the worker schedules from these)."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(runs.c.id, runs.c.plan_json).where(runs.c.status == QUEUED).order_by(runs.c.created_at, runs.c.id)
            ).all()
        return [(row.id, json.loads(row.plan_json)) for row in rows]

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next job to start on its devices; None when it is not queued."""
        queued = self.queued_runs()
        mine = next((job_devices(plan) for queued_id, plan in queued if queued_id == run_id), None)
        if mine is None:
            return None
        ahead = [queued_id for queued_id, plan in queued if job_devices(plan) & mine]
        return ahead.index(run_id) + 1

    def pending_trials(self, run_id: str) -> list[tuple[int, dict]]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(trials.c.position, trials.c.spec_json)
                .where(trials.c.run_id == run_id, trials.c.status == PENDING).order_by(trials.c.position)
            ).all()
        return [(row.position, json.loads(row.spec_json)) for row in rows]

    def load_plan(self, run_id: str) -> list[dict]:
        return json.loads(self._run_row(run_id).plan_json)

    def run_options(self, run_id: str) -> RunOptions:
        return RunOptions.from_json(self._run_row(run_id).options_json)

    def save_working_set(self, key: str, state_json: str, sample_raw: bytes | None) -> None:
        """Keep a person's working set (replacing the last one)."""
        with self.engine.begin() as db:
            db.execute(working_sets.delete().where(working_sets.c.key == key))
            db.execute(working_sets.insert().values(key=key, state_json=state_json, sample_raw=sample_raw, updated_at=now()))

    def load_working_set(self, key: str) -> tuple[str, bytes | None] | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(working_sets.c.state_json, working_sets.c.sample_raw)
                             .where(working_sets.c.key == key)).first()
        return (row.state_json, row.sample_raw) if row else None

    def forget_working_set(self, key: str) -> None:
        with self.engine.begin() as db:
            db.execute(working_sets.delete().where(working_sets.c.key == key))

    def load_sample(self, run_id: str) -> LabeledSample:
        """The sample exactly as evaluated, rebuilt from the stored rows (no original file needed)."""
        row = self._run_row(run_id)
        summary = DatasetSummary(**json.loads(row.sample_json))
        with self.engine.connect() as db:
            rows = db.execute(sa.select(sample_rows).where(sample_rows.c.run_id == run_id).order_by(sample_rows.c.row)).all()
        pairs = [r.pair for r in rows] if summary.columns.get("text_pair") else None
        return summary.rebuild([r.text for r in rows], pairs, [json.loads(r.labels_json) for r in rows],
                               label_sep=row.label_sep, metadata=metadata_of(json.loads(row.slices_json or "{}")))

    def load_run(self, run_id: str) -> RunResult:
        """The run as result objects: identical to what `python -m core evaluate` writes for it.

        Trials that have not ended (pending, running) are left out.
        """
        row = self._run_row(run_id)
        return RunResult(
            dataset=DatasetSummary(**json.loads(row.sample_json)),
            environment=json.loads(row.environment_json or "{}"),
            results=self._load_trials(run_id),
            comparisons=[PairedTest(**c) for c in json.loads(row.comparisons_json or "[]")],
            warnings=json.loads(row.warnings_json or "[]"),
            created_at=iso_time(row.finished_at or row.created_at),
            command=row.command,
            slices=json.loads(row.slices_json or "{}"),
        )

    def _load_trials(self, run_id: str) -> list[TrialResult]:
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(trials.c.id, trials.c.result_json)
                .where(trials.c.run_id == run_id, trials.c.result_json.is_not(None)).order_by(trials.c.position)
            ).all()
            stored: dict[int, list[RowPrediction]] = {}
            for r in db.execute(
                sa.select(predictions).where(predictions.c.trial_id.in_([row.id for row in rows]))
                .order_by(predictions.c.trial_id, predictions.c.row)
            ):
                stored.setdefault(r.trial_id, []).append(prediction_of(r))
        return [trial_of(row.result_json, stored.get(row.id, [])) for row in rows]

    def list_runs(
        self, *, visible_to: str | None = None, status: str | None = None, sample_sha256: str | None = None,
        model: str | None = None, limit: int = 100,
    ) -> list[RunSummary]:
        """Newest first. `visible_to` keeps the runs that user started plus the shared ones."""
        query = _visible(sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit), visible_to)
        if status:
            query = query.where(runs.c.status == status)
        if sample_sha256:
            query = query.where(runs.c.sample_sha256 == sample_sha256)
        if model:
            query = query.where(runs.c.id.in_(sa.select(trials.c.run_id).where(trials.c.model == model)))
        return self._summaries(query)

    def is_visible(self, run_id: str, visible_to: str | None) -> bool:
        """Whether the run exists and `visible_to` may see it (theirs or shared; anyone when None)."""
        with self.engine.connect() as db:
            return db.execute(_visible(sa.select(runs.c.id).where(runs.c.id == run_id), visible_to)).first() is not None

    def run_summary(self, run_id: str) -> RunSummary:
        found = self._summaries(sa.select(runs).where(runs.c.id == run_id))
        if not found:
            raise _no_run(run_id)
        return found[0]

    def _summaries(self, query) -> list[RunSummary]:
        with self.engine.connect() as db:
            rows = db.execute(query).all()
            trial_rows = db.execute(
                sa.select(trials.c.run_id, trials.c.model, trials.c.status, trials.c.accuracy)
                .where(trials.c.run_id.in_([r.id for r in rows])).order_by(trials.c.position)
            ).all()
        by_run: dict[str, list] = {}
        for t in trial_rows:
            by_run.setdefault(t.run_id, []).append(t)
        return [summary_of(row, by_run.get(row.id, [])) for row in rows]

    def job_progress(self, run_id: str) -> JobProgress:
        row = self._run_row(run_id)
        with self.engine.connect() as db:
            state = db.execute(sa.select(progress).where(progress.c.run_id == run_id)).first()
            counts = dict(db.execute(sa.select(trials.c.status, sa.func.count()).where(trials.c.run_id == run_id)
                                     .group_by(trials.c.status)).all())
        finished = sum(counts.get(status, 0) for status in FINISHED_TRIAL)
        position = self.queue_position(run_id) if row.status == QUEUED else None
        return progress_of(row, state if row.status == RUNNING else None, sum(counts.values()), finished, position)

    def _run_row(self, run_id: str):
        with self.engine.connect() as db:
            row = db.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise _no_run(run_id)
        return row

    def _run_exists(self, run_id: str) -> bool:
        with self.engine.connect() as db:
            return db.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is not None


def explain_store_failure(error: BaseException) -> str:
    """Why a job stopped while reading or writing the store, for the person who started it."""
    text = str(error).lower()
    if "disk is full" in text or "no space left" in text or getattr(error, "errno", None) == errno.ENOSPC:
        return ("The results store ran out of disk space while saving; the trials finished before that are kept. "
                "Free space where MSD_DATA_DIR (or DATABASE_URL) points, then resume the run.")
    return (f"The job stopped on an unexpected error ({type(error).__name__}); the trials finished before it are "
            "kept. The details are in the worker log; resume the run to try the rest again.")


def _visible(query, visible_to: str | None):
    """Keep the runs `visible_to` started plus the shared ones; all runs when sign-in is off (None)."""
    if visible_to is None:
        return query
    return query.where(sa.or_(runs.c.started_by == visible_to, runs.c.shared.is_(True)))


def _no_run(run_id: str) -> InputError:
    return InputError(f"There is no run {run_id!r} in the store.", hint="List runs to see their ids: python -m core runs list.")

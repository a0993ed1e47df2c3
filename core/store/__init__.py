"""The results store: runs, trials, per-row predictions, sample rows and job progress.

SQLAlchemy Core over SQLite by default (tables and opening a database: core/schema.py), so a team can
point DATABASE_URL at PostgreSQL instead. Every write is its own short transaction, so a
worker killed at any moment loses nothing that was committed. One `Store` is safe to
share between threads; the dashboard keeps one per database for the whole server (ui/state.py).

A run is a job while it is queued or running. Trials move pending -> running -> ok/error,
or to interrupted/cancelled, which `resume` turns back into pending.
"""

from __future__ import annotations

from core.store.model import (
    ACTIVE, CANCELLED, DONE, FAILED, FINISHED_TRIAL, INTERRUPTED, PENDING, QUEUED, RESUMABLE, RUNNING, JobProgress,
    RunOptions, RunSummary,
)
from core.store.queue import job_devices, startable_jobs, this_host
from core.store.rows import estimate_eta_s
from core.store.runs import Store, explain_store_failure

__all__ = [
    "ACTIVE", "CANCELLED", "DONE", "FAILED", "FINISHED_TRIAL", "INTERRUPTED", "PENDING", "QUEUED", "RESUMABLE", "RUNNING",
    "JobProgress", "RunOptions", "RunSummary", "Store", "estimate_eta_s", "explain_store_failure", "job_devices",
    "startable_jobs", "this_host",
]

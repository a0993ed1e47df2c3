"""What the store hands out: run and trial states, a run's summary and options, a job's progress."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields


#: Run states. A run is a job while queued or running.
QUEUED, RUNNING, DONE, CANCELLED, INTERRUPTED, FAILED = "queued", "running", "done", "cancelled", "interrupted", "failed"
RESUMABLE = (INTERRUPTED, CANCELLED, FAILED)
ACTIVE = (QUEUED, RUNNING)
#: Trial states besides RUNNING, CANCELLED, INTERRUPTED and the result's own "ok" / "error".
PENDING = "pending"
FINISHED_TRIAL = ("ok", "error")
#: Steps whose progress counts training steps, not rows (core.tasks.fine_tune).
TRAINING_STEP = "fine-tuning"


@dataclass(frozen=True)
class RunSummary:
    """One line of the run list: enough to pick a run without loading its rows."""

    id: str
    created_at: float  # epoch seconds
    started_by: str | None
    shared: bool
    status: str
    sample_source: str
    sample_rows: int
    sample_sha256: str
    models: list[str]
    trials_ok: int
    trials_total: int
    best_accuracy: float | None
    best_model: str | None
    #: Where its trials ran ("local worker on HOST", "Ray cluster at ADDRESS"); None until a worker took it.
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class RunOptions:
    """What the person chose beyond the plan, kept with the run for its comparison and report."""

    price_per_hour: dict[str, float] = field(default_factory=dict)  # device -> money per hour of use
    #: Racing (core.racing): None runs every trial on all rows; else RaceSettings' fields.
    race: dict | None = None

    @classmethod
    def from_json(cls, text: str | None) -> RunOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text or "{}").items() if k in known})


@dataclass(frozen=True)
class JobProgress:
    """Where a job stands, for any page or process that asks.

    `queue_position` is 1 for the next job to start on its devices (None once started).
    `elapsed_s` counts from the job's start; `eta_s` estimates what is left of the current
    trial's pass over the rows (None before that pass starts or once the job is over).
    """

    run_id: str
    status: str
    queue_position: int | None
    cancel_requested: bool
    trial_index: int | None
    trial_count: int
    trials_finished: int
    trial_name: str | None
    step: str | None
    rows_done: float
    rows_total: int
    elapsed_s: float
    eta_s: float | None
    updated_at: float | None
    failure: str | None = None
    auto_resumes: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def unit(self) -> str:
        """What rows_done counts in the current step: training steps while fine-tuning, else rows."""
        return "steps" if (self.step or "").startswith(TRAINING_STEP) else "rows"

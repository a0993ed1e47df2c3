"""How runs, trials, predictions and sample rows become table rows, and back."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime, timezone

import sqlalchemy as sa

from core.dataset import LabeledSample
from core.errors import InputError
from core.results import DatasetSummary, RowPrediction, RunResult, TrialResult, trial_from_dict, trial_to_dict
from core.slices import slice_memberships
from core.schema import now, predictions, runs, sample_rows, trials
from core.store.model import PENDING, RUNNING, JobProgress, RunOptions, RunSummary


def to_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def sample_rows_of(run_id: str, sample: LabeledSample) -> list[dict]:
    return [
        {"run_id": run_id, "row": i, "text": text, "pair": sample.pairs[i] if sample.pairs else None,
         "labels_json": to_json(list(sample.labels[i]))}
        for i, text in enumerate(sample.texts)
    ]


def trial_row_of(run_id: str, position: int, spec: dict) -> dict:
    return {
        "run_id": run_id, "position": position, "model": spec.get("model") or spec["kind"], "kind": spec["kind"],
        "device": spec.get("device", "cpu"), "dtype": spec.get("dtype", "float32"), "status": PENDING,
        "spec_json": to_json(spec),
    }


def prediction_row_of(trial_id: int, prediction: dict) -> dict:
    probabilities = prediction.get("probabilities")
    return {"trial_id": trial_id, "row": prediction["row"], "labels_json": to_json(prediction["labels"]),
            "score": prediction["score"], "correct": prediction["correct"],
            "probabilities_json": to_json(probabilities) if probabilities is not None else None}


def prediction_of(row) -> RowPrediction:
    probabilities = json.loads(row.probabilities_json) if row.probabilities_json else None
    return RowPrediction(row.row, tuple(json.loads(row.labels_json)), row.score, row.correct,
                         tuple(probabilities) if probabilities is not None else None)


def trial_of(result_json: str, rows: list[RowPrediction]) -> TrialResult:
    trial = trial_from_dict({**json.loads(result_json), "predictions": []})
    trial.predictions = rows
    return trial


def summary_of(row, trial_rows) -> RunSummary:
    sample = json.loads(row.sample_json)
    scored = [t for t in trial_rows if t.status == "ok" and t.accuracy is not None]
    best = max(scored, key=lambda t: t.accuracy, default=None)
    return RunSummary(
        id=row.id, created_at=row.created_at, started_by=row.started_by,
        shared=bool(row.shared), status=row.status, sample_source=sample["source"], sample_rows=sample["rows"],
        sample_sha256=row.sample_sha256, models=list(dict.fromkeys(t.model for t in trial_rows)),
        trials_ok=sum(t.status == "ok" for t in trial_rows), trials_total=len(trial_rows),
        best_accuracy=best.accuracy if best else None, best_model=best.model if best else None, backend=row.backend,
    )


def insert_run(db: sa.Connection, sample: LabeledSample, specs: list[dict], *, started_by: str | None, shared: bool,
                status: str, command: str | None, options: RunOptions | None = None) -> str:
    run_id = uuid.uuid4().hex
    db.execute(runs.insert().values(
        id=run_id, created_at=now(), started_by=started_by, shared=shared, status=status,
        sample_sha256=sample.sha256, sample_json=to_json(asdict(DatasetSummary.of(sample))),
        label_sep=sample.label_sep, slices_json=to_json(slice_memberships(sample)), plan_json=to_json(specs), options_json=to_json(asdict(options or RunOptions())),
        command=command, cancel_requested=False, started_at=now() if status == RUNNING else None,
    ))
    db.execute(sample_rows.insert(), sample_rows_of(run_id, sample))
    db.execute(trials.insert(), [trial_row_of(run_id, i, spec) for i, spec in enumerate(specs)])
    return run_id


def write_trial(db: sa.Connection, run_id: str, position: int, result: TrialResult, *, status: str | None = None) -> None:
    data = trial_to_dict(result)
    rows = data.pop("predictions")
    # the column ranks a run's best trial in History: never one a race stopped (its accuracy is on fewer rows)
    accuracy = result.metrics.accuracy if result.ok and result.metrics and not result.stopped_early else None
    trial_id = trial_id_of(db, run_id, position)
    db.execute(predictions.delete().where(predictions.c.trial_id == trial_id))
    db.execute(trials.update().where(trials.c.id == trial_id).values(
        status=status or result.status, kind=result.kind, result_json=to_json(data), accuracy=accuracy,
        error=result.error, finished_at=now(),
    ))
    if rows:
        db.execute(predictions.insert(), [prediction_row_of(trial_id, p) for p in rows])


def trial_id_of(db: sa.Connection, run_id: str, position: int) -> int:
    trial_id = db.execute(
        sa.select(trials.c.id).where(trials.c.run_id == run_id, trials.c.position == position)
    ).scalar_one_or_none()
    if trial_id is None:
        raise InputError(f"Run {run_id} has no trial {position}; it may have been deleted.")
    return trial_id


def closing_values(result: RunResult) -> dict:
    """The run-level parts of a finished run: paired tests, warnings, environment, when it ended."""
    return dict(finished_at=datetime.fromisoformat(result.created_at).timestamp(),
                comparisons_json=to_json([asdict(c) for c in result.comparisons]),
                warnings_json=to_json(result.warnings), environment_json=to_json(result.environment))


def progress_of(row, state, total: int, finished: int, position: int | None) -> JobProgress:
    elapsed = ((row.finished_at or now()) - row.started_at) if row.started_at else 0.0
    return JobProgress(
        run_id=row.id, status=row.status, queue_position=position, cancel_requested=bool(row.cancel_requested),
        trial_index=state.trial_position if state else None, trial_count=total, trials_finished=finished,
        trial_name=state.trial_name if state else None, step=state.step if state else None,
        rows_done=(state.rows_done or 0.0) if state else 0.0, rows_total=(state.rows_total or 0) if state else 0,
        elapsed_s=max(elapsed, 0.0), eta_s=estimate_eta_s(state), updated_at=state.updated_at if state else None,
        failure=row.failure, auto_resumes=int(row.auto_resumes or 0),
    )


def estimate_eta_s(state) -> float | None:
    """Seconds left in the current pass over the rows, at the rate seen so far in it."""
    if state is None or state.step != "predicting" or not state.rows_done or not state.rows_total:
        return None
    rate = state.rows_done / max(state.updated_at - state.step_started_at, 1e-3)
    left_at_update = (state.rows_total - state.rows_done) / rate
    return max(left_at_update - (now() - state.updated_at), 0.0)

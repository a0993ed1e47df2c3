"""`python -m core runs list|show|progress|cancel|resume|rerun|delete|export|share|unshare|ensemble`: stored runs."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from core.commands.evaluate import add_ensemble_arguments, ensemble_specs, format_table, table_row
from core.files import check_output_path
from core.results import write_json
from core.store import JobProgress, RunSummary, Store

NEEDS_ID = ("show", "progress", "cancel", "resume", "rerun", "delete", "export", "share", "unshare", "ensemble")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", *NEEDS_ID])
    parser.add_argument("run_id", nargs="?", help="the run (every action but list)")
    parser.add_argument("--user", help="list: only this user's runs and the shared ones")
    parser.add_argument("--status", help="list: only runs in this state (queued, running, done, cancelled, interrupted, failed)")
    parser.add_argument("--sample", help="list: only runs on the sample with this sha256")
    parser.add_argument("--model", help="list: only runs that include this model")
    parser.add_argument("--limit", type=int, default=50, help="list: at most this many runs, newest first (default 50)")
    parser.add_argument("--out", default="results.json", help="export: where to write the results JSON")
    parser.add_argument("--watch", action="store_true", help="progress: print a line a second until the job ends")
    add_ensemble_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.run_id:
        raise SystemExit(f"error: '{args.action}' needs a run id (see: python -m core runs list)")
    return ACTIONS[args.action](Store(), args)


def _list(store: Store, args) -> int:
    found = store.list_runs(visible_to=args.user, status=args.status, sample_sha256=args.sample, model=args.model,
                            limit=args.limit)
    for summary in found:
        print(describe_summary(summary))
    if not found:
        print("no runs")
    return 0


def describe_summary(s: RunSummary) -> str:
    best = f"best accuracy {s.best_accuracy:.3f} ({s.best_model})" if s.best_accuracy is not None else "no accuracy yet"
    who = f"{s.started_by or 'unknown'}{', shared' if s.shared else ''}"
    when = datetime.fromtimestamp(s.created_at, timezone.utc)
    return (f"{s.id}  {when:%Y-%m-%d %H:%M} UTC  {s.status:<11} {who}  {s.sample_source} ({s.sample_rows} rows, "
            f"sha256 {s.sample_sha256[:12]})  {s.trials_ok}/{s.trials_total} trials ok  {best}"
            + (f"  ({s.backend})" if s.backend else ""))


def describe_progress(p: JobProgress) -> str:
    if p.queue_position:
        return f"{p.status}: position {p.queue_position} in the queue, {p.trial_count} trials"
    parts = [f"{p.status}{' (cancel requested)' if p.cancel_requested and p.active else ''}:"]
    if p.trial_index is not None:
        rows = f" {p.rows_done:.0f}/{p.rows_total} {p.unit}" if p.rows_total else ""
        parts.append(f"trial {p.trial_index + 1}/{p.trial_count} {p.trial_name}, {p.step}{rows},")
    parts.append(f"{p.trials_finished}/{p.trial_count} trials finished, {p.elapsed_s:.1f} s elapsed")
    if p.eta_s is not None:
        parts[-1] += f", about {p.eta_s:.0f} s left in this trial"
    return " ".join(parts)


def _show(store: Store, args) -> int:
    print(describe_summary(store.run_summary(args.run_id)))
    progress = store.job_progress(args.run_id)
    if progress.active:
        print(describe_progress(progress))
    run = store.load_run(args.run_id)
    print(format_table(run))
    for warning in run.warnings:
        print(f"\nnote: {warning}")
    return 0


def _progress(store: Store, args) -> int:
    while True:
        progress = store.job_progress(args.run_id)
        print(describe_progress(progress), flush=True)
        if not args.watch or not progress.active:
            return 0
        time.sleep(1)


def _export(store: Store, args) -> int:
    print(f"wrote {write_json(store.load_run(args.run_id), check_output_path(args.out))}")
    return 0


def _cancel(store: Store, args) -> int:
    if store.request_cancel(args.run_id):
        print("cancel requested: the current trial stops within a few seconds; finished trials are kept")
        return 0
    print(f"run {args.run_id} had already ended")
    return 1


def _resume(store: Store, args) -> int:
    print(f"{store.resume(args.run_id)} unfinished trials queued again{_worker_note()}")
    return 0


def _rerun(store: Store, args) -> int:
    print(f"queued as run {store.rerun(args.run_id)}{_worker_note()}")
    return 0


def _worker_note() -> str:
    """Make sure a worker will pick the queued job up, and say so if this started one."""
    from core.supervision import ensure_worker

    return " (started a background worker)" if ensure_worker() else ""


def _delete(store: Store, args) -> int:
    deleted = store.delete_run(args.run_id)
    print("deleted" if deleted else f"no run {args.run_id}")
    return 0 if deleted else 1


def _share(store: Store, args) -> int:
    store.set_shared(args.run_id, args.action == "share")
    print("shared with everyone" if args.action == "share" else "private to who started it")
    return 0


def _ensemble(store: Store, args) -> int:
    from core.ensembles import add_to_stored_run

    specs = ensemble_specs(args)
    if not specs:
        raise SystemExit("error: 'ensemble' needs at least one --ensemble vote|mean|rules-first|stack")
    added = add_to_stored_run(store, args.run_id, specs)
    for trial in added:
        print(table_row(trial))
    print(f"added {len(added)} ensemble(s) to run {args.run_id}" if added else "those ensembles are in the run already")
    return 0 if all(t.ok for t in added) else 1


ACTIONS = {
    "list": _list, "show": _show, "progress": _progress, "cancel": _cancel, "resume": _resume, "rerun": _rerun,
    "delete": _delete, "export": _export, "share": _share, "unshare": _share, "ensemble": _ensemble,
}

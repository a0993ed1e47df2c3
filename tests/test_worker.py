"""The results store and the background worker: progress, cancel, SIGKILL and resume, faults."""

import getpass
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import schema
from core.__main__ import main as cli
from core.dataset import load_csv
from core.errors import InputError
from core.results import run_to_dict, validate
from core.runner import TrialSpec, plan, run_plan, run_trial
from core.settings import get_settings
from core.schema import StoreError
from core.store import RunOptions, Store
from core.supervision import Healing, ensure_worker, heal, worker_alive, worker_pid
from core.worker import Job, Worker, startable_jobs, submit

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 180  # generous: the machine is shared and a worker imports torch before it starts


@pytest.fixture
def env(tmp_path, monkeypatch):
    values = {
        "MSD_DATA_DIR": str(tmp_path / "data"), "MSD_PLUGINS": "tests.fault_kinds", "MSD_LATENCY_ROWS": "4",
        "MSD_BOOTSTRAP_RESAMPLES": "100", "MSD_WORKER_POLL_S": "0.1", "MSD_TEST_ROW_SLEEP_S": "0.02",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return values


@pytest.fixture
def store(env, database_url, monkeypatch):
    """The results store on each backend (SQLite, a real PostgreSQL); workers the test starts use it too."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    return Store(settings=get_settings())


@pytest.fixture
def sqlite_store(env):
    """A store on an SQLite file: for what only a file can do (be made read-only)."""
    return Store(settings=get_settings())


class WorkerProcess:
    """`python -m core worker` as its own process, as a team would run it."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process = None

    def start(self) -> "WorkerProcess":
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@contextmanager
def worker_running(log_path: Path):
    started = WorkerProcess(log_path).start()
    try:
        yield started
    finally:
        started.stop()


def wait_for(condition, timeout_s=WAIT_S, interval_s=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def rows_sample(count: int):
    """A two-label sample of `count` rows, for jobs whose length is set by the row count."""
    return load_csv(("text,label\n" + "".join(f"row {i},{'ab'[i % 2]}\n" for i in range(count))).encode())


def sleep_spec() -> TrialSpec:
    return TrialSpec(kind="test-sleep", dtype="n/a", batch_size=8)


def trial_rows(run_id: str) -> list[tuple]:
    """The run's trial rows as stored, read apart from the Store (SQLite: after an integrity check)."""
    engine = sa.create_engine(get_settings().database_url)
    try:
        with engine.connect() as db:
            if engine.dialect.name == "sqlite":
                assert db.exec_driver_sql("PRAGMA integrity_check").fetchone() == ("ok",)
            return [tuple(row) for row in db.execute(
                sa.text("SELECT status, result_json, finished_at FROM trials WHERE run_id = :run ORDER BY position"),
                {"run": run_id})]
    finally:
        engine.dispose()


def test_job_progress_rises_and_results_equal_an_in_process_run(store, tmp_path, monkeypatch, synthetic_csv,
                                                                trained_classifier):
    monkeypatch.setenv("MSD_TEST_ROW_SLEEP_S", "0.05")  # 90 rows: a 4.5 s pass over the rows to watch
    sample = load_csv(synthetic_csv)
    specs = [sleep_spec()] + plan([str(trained_classifier)], batch_size=8)
    run_id = submit(store, sample, specs, started_by="alice", price_per_hour={"cpu": 0.36})
    assert store.job_progress(run_id).queue_position == 1
    with worker_running(tmp_path / "worker.log"):
        seen = watch_first_trial(store, run_id)
        wait_for(lambda: not store.job_progress(run_id).active)
    rows = [p.rows_done for p in seen]
    assert len(set(rows)) >= 3 and rows == sorted(rows), f"progress did not rise: {rows}"
    assert {(p.trial_name, p.rows_total, p.trial_index) for p in seen} == {("test-sleep", len(sample), 0)}
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in seen if p.rows_done)
    assert seen[-1].elapsed_s > seen[0].elapsed_s
    finished = store.job_progress(run_id)
    assert (finished.status, finished.trials_finished, finished.trial_count) == ("done", len(specs), len(specs))
    assert finished.eta_s is None and finished.queue_position is None

    stored = run_to_dict(store.load_run(run_id))
    local = run_to_dict(run_plan(specs[1:], sample))
    validate({**stored, "results": stored["results"][1:]})  # the schema knows only the real kinds
    assert len(stored["results"]) == len(local["results"]) + 1
    for ours, theirs in zip(stored["results"][1:], local["results"]):
        assert (ours["model"], ours["kind"], ours["status"]) == (theirs["model"], theirs["kind"], theirs["status"])
        assert ours["predictions"] == theirs["predictions"]
        assert ours["metrics"] == theirs["metrics"]
    assert store.run_options(run_id).price_per_hour == {"cpu": 0.36}
    summary = store.list_runs(visible_to="alice")[0]
    assert (summary.id, summary.started_by, summary.trials_ok, summary.sample_rows) == (run_id, "alice", len(specs), len(sample))
    best = max((t for t in local["results"] if t["metrics"]), key=lambda t: t["metrics"]["accuracy"])
    assert (summary.best_accuracy, summary.best_model) == (best["metrics"]["accuracy"], best["model"])


def watch_first_trial(store: Store, run_id: str) -> list:
    """Every distinct progress snapshot seen while the first trial passes over its rows."""
    seen = []

    def first_trial_over() -> bool:
        state = store.job_progress(run_id)
        if state.step == "predicting" and state.trial_index == 0 and (not seen or state.updated_at != seen[-1].updated_at):
            seen.append(state)
        return not state.active or (state.trial_index or 0) > 0

    wait_for(first_trial_over, interval_s=0.05)
    return seen


def test_evaluate_store_reads_back_as_the_same_json(env, tmp_path, synthetic_csv, capsys):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", "--data", str(synthetic_csv), "--out", str(out), "--store", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, env=os.environ, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    run_id = [line for line in done.stdout.splitlines() if line.startswith("stored as run ")][0].split()[-1]
    written = json.loads(out.read_text())
    read_back = run_to_dict(Store().load_run(run_id))
    validate(read_back)
    assert read_back == written
    assert Store().load_sample(run_id) == load_csv(synthetic_csv)

    assert cli(["runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert run_id in shown and "baseline-tfidf" in shown and f"{written['results'][1]['metrics']['accuracy']:.3f}" in shown
    assert cli(["runs", "export", run_id, "--out", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text()) == written


def test_cancel_mid_trial_keeps_finished_trials(store, tmp_path):
    run_id = submit(store, rows_sample(2000), [TrialSpec(kind="baseline-majority", dtype="n/a"), sleep_spec(), sleep_spec()])
    with worker_running(tmp_path / "worker.log"):
        at_cancel = wait_for(lambda: (p := store.job_progress(run_id)).trial_index == 1 and p.rows_done > 0 and p)
        assert store.request_cancel(run_id)
        wait_for(lambda: store.job_progress(run_id).status == "cancelled", timeout_s=30)  # the trial alone takes 40 s
    run = store.load_run(run_id)
    assert run.results[0].ok and run.results[0].metrics.accuracy == pytest.approx(0.5)
    assert [r.status for r in run.results] == ["ok", "error", "error"]
    assert "Cancelled while running" in run.results[1].error and "Cancelled before it started" in run.results[2].error
    assert at_cancel.rows_total == 2000 and at_cancel.rows_done < 2000
    assert [row[0] for row in trial_rows(run_id)] == ["ok", "cancelled", "cancelled"]
    assert not store.request_cancel(run_id), "an ended job cannot be cancelled again"


def test_sigkill_mid_trial_then_restart_and_resume(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_AUTO_RESUME_ATTEMPTS", "0")  # resumed by hand here; by itself in the test below
    gate = tmp_path / "gate"
    gate.touch()
    monkeypatch.setenv("MSD_TEST_GATE", str(gate))  # the middle trial stops after one row until the gate goes
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a"), TrialSpec(kind="test-gate", dtype="n/a", batch_size=8),
             TrialSpec(kind="baseline-tfidf", dtype="n/a")]
    run_id = submit(store, rows_sample(60), specs)
    first = WorkerProcess(tmp_path / "worker.log").start()
    try:
        wait_for(lambda: (p := store.job_progress(run_id)).trial_index == 1 and p.rows_done > 0)
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(30)
    wait_for(lambda: not worker_alive(get_settings()) and not trial_processes_alive(), timeout_s=30)
    before = trial_rows(run_id)
    assert [row[0] for row in before] == ["ok", "running", "pending"]
    assert json.loads(before[0][1])["status"] == "ok"

    with worker_running(tmp_path / "worker2.log"):
        wait_for(lambda: store.job_progress(run_id).status == "interrupted")
        interrupted = store.load_run(run_id)
        assert [r.status for r in interrupted.results] == ["ok", "error"]
        assert "worker stopped while this trial was running" in interrupted.results[1].error
        assert [row[0] for row in trial_rows(run_id)] == ["ok", "interrupted", "pending"]
        gate.unlink()
        assert store.resume(run_id) == 2
        wait_for(lambda: store.job_progress(run_id).status == "done")
        rerun_id = store.rerun(run_id)
        assert store.run_options(rerun_id) == store.run_options(run_id) == RunOptions()
        wait_for(lambda: store.job_progress(rerun_id).status == "done")
    after = trial_rows(run_id)
    assert after[0] == before[0], "the trial committed before the kill is untouched"
    assert [row[0] for row in after] == ["ok", "ok", "ok"]
    assert [r.status for r in store.load_run(rerun_id).results] == ["ok", "ok", "ok"]
    assert store.load_sample(rerun_id) == store.load_sample(run_id) and store.load_plan(rerun_id) == store.load_plan(run_id)


def gate_job(store, tmp_path, monkeypatch) -> str:
    """A run whose middle trial stops after one row while the gate file exists: a worker to kill mid-trial."""
    gate = tmp_path / "gate"
    gate.touch()
    monkeypatch.setenv("MSD_TEST_GATE", str(gate))
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a"), TrialSpec(kind="test-gate", dtype="n/a", batch_size=8),
             TrialSpec(kind="baseline-tfidf", dtype="n/a")]
    return submit(store, rows_sample(60), specs)


def kill_worker_mid_trial(store, run_id: str) -> int:
    """SIGKILL the live worker once the gated trial runs; returns the dead worker's id."""
    wait_for(lambda: (p := store.job_progress(run_id)).status == "running" and p.trial_index == 1 and p.rows_done > 0)
    pid = worker_pid(get_settings())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not worker_alive(get_settings()) and not trial_processes_alive(), timeout_s=30)
    return pid


def test_a_sigkilled_worker_is_replaced_and_its_run_resumes_by_itself_a_bounded_number_of_times(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_AUTO_RESUME_ATTEMPTS", "1")
    run_id = gate_job(store, tmp_path, monkeypatch)
    assert ensure_worker(get_settings(), store=store)
    try:
        first = kill_worker_mid_trial(store, run_id)
        assert worker_pid(get_settings()) is None, "never the id of a dead worker"
        assert store.job_progress(run_id).status == "running", "nothing has noticed yet"
        healing = heal(store, get_settings())  # what the next page load or progress refresh does
        assert healing == Healing(interrupted=(run_id,), resumed=(run_id,), started_worker=True)
        second = wait_for(lambda: worker_pid(get_settings()))
        assert second != first and store.auto_resumes(run_id) == 1
        assert [row[0] for row in trial_rows(run_id)][0] == "ok", "the trial that ended before the kill is kept"
        kill_worker_mid_trial(store, run_id)  # the same model takes the worker down again
        healing = heal(store, get_settings())
        assert healing == Healing(interrupted=(run_id,), resumed=(), started_worker=False)
        progress = store.job_progress(run_id)
        assert progress.status == "interrupted" and "MSD_AUTO_RESUME_ATTEMPTS" in progress.failure
        assert heal(store, get_settings()) == Healing(), "healing twice does nothing more"
    finally:
        if (alive := worker_pid(get_settings())) is not None:
            os.kill(alive, signal.SIGTERM)
        wait_for(lambda: not worker_alive(get_settings()), timeout_s=60)


def test_a_worker_killed_after_the_last_trial_leaves_a_run_that_heals_to_done(store, monkeypatch):
    """Audit item 7: every trial ok, the run left running; it became 'interrupted', which resume refuses."""
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a"), TrialSpec(kind="baseline-tfidf", dtype="n/a")]
    run_id = submit(store, rows_sample(30), specs)
    worker = Worker(store, get_settings())
    assert store.claim(run_id, host=worker.host)
    for position, spec in store.pending_trials(run_id):  # the trials end and are saved...
        row = Job(store, run_id, get_settings()).run_trial(position, spec, store.load_sample(run_id)).result
        store.save_trial(run_id, position, row, status=row.status)
    assert store.job_progress(run_id).status == "running"  # ...and the worker dies before closing the run
    healing = heal(store, get_settings(), start_idle=False)
    assert healing.interrupted == (run_id,) and healing.resumed == ()
    closed = store.load_run(run_id)
    assert store.job_progress(run_id).status == "done" and [r.status for r in closed.results] == ["ok", "ok"]
    assert len(closed.comparisons) == 1, "the run-level paired test was computed as the worker would have"


def test_trials_run_at_a_lower_priority_on_the_threads_set(env, monkeypatch):
    monkeypatch.setenv("MSD_TRIAL_NICE", "7")
    monkeypatch.setenv("MSD_TRIAL_THREADS", "1")
    script = ("import os, torch; from core.settings import get_settings; from core.trial_process import yield_to_the_web_server; "
              "before = os.nice(0); yield_to_the_web_server(get_settings()); print(os.nice(0) - before, torch.get_num_threads())")
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert finished.stdout.split() == ["7", "1"], finished.stderr[-2000:]


def trial_processes_alive() -> bool:
    """Whether a fork server or trial child started for this test's data directory still runs."""
    marker = f"MSD_DATA_DIR={os.environ['MSD_DATA_DIR']}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"forkserver" in (proc / "cmdline").read_bytes() and marker in (proc / "environ").read_bytes():
                return True
        except OSError:
            continue
    return False


def test_ensure_worker_then_two_jobs_from_two_threads_complete_and_sigterm_interrupts(store, synthetic_csv, capsys):
    sample = load_csv(synthetic_csv)
    started = run_in_threads(lambda: ensure_worker(get_settings()), 2)
    assert sorted(started) == [False, True], "two callers at once start exactly one worker"
    try:
        pid = wait_for(lambda: worker_pid(get_settings()))
        assert not ensure_worker(get_settings())
        run_ids = run_in_threads(lambda: submit(Store(), sample, [TrialSpec(kind="baseline-majority", dtype="n/a")]), 2)
        assert len(set(run_ids)) == 2
        wait_for(lambda: all(store.job_progress(r).status == "done" for r in run_ids))
        assert all(store.load_run(r).results[0].ok for r in run_ids)

        assert cli(["evaluate", "--data", str(synthetic_csv), "--submit", "--shared"]) == 0
        printed = capsys.readouterr().out
        assert "started a background worker" not in printed, "the live worker is used"
        submitted = printed.split("queued as run ")[1].split()[0]
        wait_for(lambda: store.job_progress(submitted).status == "done")
        summary = store.run_summary(submitted)
        assert (summary.shared, summary.started_by, summary.models) == (True, getpass.getuser(), ["baseline-majority", "baseline-tfidf"])

        long_id = submit(store, rows_sample(2000), [sleep_spec()])
        wait_for(lambda: store.job_progress(long_id).rows_done > 0)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not worker_alive(get_settings()), timeout_s=60)
    finally:
        if (alive := worker_pid(get_settings())) is not None:
            os.kill(alive, signal.SIGKILL)
    assert store.job_progress(long_id).status == "interrupted"
    assert [row[0] for row in trial_rows(long_id)] == ["interrupted"]


def run_in_threads(function, count: int) -> list:
    results, barrier = [], threading.Barrier(count)

    def call() -> None:
        barrier.wait()
        results.append(function())

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_raising_exiting_and_hanging_trials_become_error_rows(store, tmp_path, synthetic_csv, monkeypatch):
    monkeypatch.setenv("MSD_TRIAL_TIMEOUT_S", "10")
    specs = [TrialSpec(kind=f"test-{b}", dtype="n/a") for b in ("raise", "exit", "hang", "oom", "killed")]
    specs.append(TrialSpec(kind="baseline-majority", dtype="n/a"))
    run_id = submit(store, load_csv(synthetic_csv), specs)
    with worker_running(tmp_path / "worker.log"):
        wait_for(lambda: not store.job_progress(run_id).active)
    results = store.load_run(run_id).results
    assert results[0].error == "Unexpected error (RuntimeError): this trial raises on purpose"
    assert results[1].error == "The process running this trial exited unexpectedly with code 3."
    assert results[2].error == "The trial took longer than 10 s and was stopped (setting MSD_TRIAL_TIMEOUT_S)."
    assert results[3].error.startswith("Ran out of memory on cpu.")
    assert results[4].error == "The process running this trial was killed by SIGKILL (the system may have run out of memory)."
    assert results[5].ok and [r.status for r in results] == ["error"] * 5 + ["ok"]
    assert store.job_progress(run_id).status == "done"
    assert results[2].settings["batch_size"] == 32 and results[2].settings["latency_rows"] == 4


def test_store_lists_filters_shares_and_deletes(store, synthetic_csv):
    sample = load_csv(synthetic_csv)
    specs = [asdict(TrialSpec(kind="baseline-majority", dtype="n/a"))]
    mine = store.create_run(sample, specs, started_by="bob")
    shared = store.create_run(sample, specs, started_by="carol", shared=True)
    private = store.create_run(sample, specs, started_by="carol")
    other = store.create_run(rows_sample(10), [asdict(TrialSpec(kind="baseline-tfidf", dtype="n/a"))], started_by="bob")
    assert {s.id for s in store.list_runs(visible_to="bob")} == {mine, shared, other}
    assert {s.id for s in store.list_runs(visible_to="carol")} == {shared, private}
    assert {s.id for s in store.list_runs(model="baseline-tfidf")} == {other}
    assert {s.id for s in store.list_runs(sample_sha256=sample.sha256)} == {mine, shared, private}
    assert [s.id for s in store.list_runs(limit=2)] == [other, private], "newest first"
    store.set_shared(private, True)
    assert private in {s.id for s in store.list_runs(visible_to="bob")}
    assert [store.queue_position(r) for r in (mine, shared, private, other)] == [1, 2, 3, 4]
    summary = store.run_summary(mine)
    assert (summary.sample_source, summary.sample_rows, summary.sample_sha256) == ("synthetic.csv", len(sample), sample.sha256)
    assert (summary.models, summary.status, summary.best_accuracy) == (["baseline-majority"], "queued", None)

    assert store.request_cancel(shared) and store.job_progress(shared).status == "cancelled"
    assert store.queue_position(private) == 2
    assert store.claim(private, host="here") and not store.claim(private, host="there")
    with pytest.raises(InputError, match="running and cannot be deleted"):
        store.delete_run(private)
    with pytest.raises(InputError, match="only interrupted, cancelled or failed runs"):
        store.resume(mine)
    assert store.delete_run(mine) and not store.delete_run(mine)
    with pytest.raises(InputError, match="no run"):
        store.load_run(mine)
    with store.engine.connect() as db:
        for table in ("sample_rows", "trials"):
            count = db.execute(sa.text(f"SELECT count(*) FROM {table} WHERE run_id = :run"), {"run": mine}).scalar()
            assert count == 0, f"{table} rows of a deleted run are gone (ON DELETE CASCADE)"
        if store.engine.dialect.name == "sqlite":
            assert db.exec_driver_sql("PRAGMA journal_mode").fetchone() == ("wal",)


def test_one_job_per_gpu_and_a_bounded_number_on_cpu():
    queued = [("a", {"cuda:0"}), ("b", {"cuda:0", "cpu"}), ("c", {"cuda:1"}), ("d", {"cpu"}), ("e", {"cpu"})]
    assert startable_jobs(queued, [], cpu_jobs=1) == ["a", "c", "d"]
    assert startable_jobs(queued, [], cpu_jobs=2) == ["a", "c", "d", "e"]
    assert startable_jobs(queued, [{"cuda:0"}, {"cpu"}], cpu_jobs=1) == ["c"]
    assert startable_jobs(queued[1:], [], cpu_jobs=1) == ["b", "c"]


def test_queue_position_counts_only_jobs_waiting_for_the_same_devices(store):
    sample = rows_sample(4)
    gpu = [asdict(spec) for spec in plan(["m"], kind="text-classification", devices=["cuda"])]  # + CPU baselines
    cpu = [asdict(TrialSpec(kind="baseline-majority", dtype="n/a"))]
    ids = [store.create_run(sample, p) for p in (gpu, cpu, gpu, cpu)]
    assert [store.job_progress(r).queue_position for r in ids] == [1, 1, 2, 2]


def test_schema_is_versioned_and_migrations_apply_once(env, database_url, monkeypatch):
    url = database_url  # an empty database of each backend
    stores = run_in_threads(lambda: Store(url), 3)  # first opens race to create the schema
    current = schema.SCHEMA_VERSION
    assert versions(stores[0]) == [current]

    def add_column(db):
        db.exec_driver_sql("ALTER TABLE runs ADD COLUMN note TEXT")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current + 1, add_column)
    assert schema.migrate(stores[0].engine) == current
    assert schema.migrate(stores[0].engine) == current + 1, "a second open finds nothing to do"
    assert versions(stores[0]) == [current, current + 1]
    with stores[0].engine.connect() as db:
        assert "note" in {c["name"] for c in sa.inspect(db).get_columns("runs")}
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current)
    with pytest.raises(StoreError, match=f"schema version {current + 1}, newer than this program knows"):
        Store(url)


def test_a_version_1_database_is_migrated_to_today(env, database_url, synthetic_rows, monkeypatch):
    url = database_url
    Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True) if url.startswith("sqlite") else None
    with sa.create_engine(url).begin() as db:  # the version 1 tables, as the first release made them
        schema.metadata.create_all(db)
        db.exec_driver_sql("ALTER TABLE runs DROP COLUMN auto_resumes")
        db.exec_driver_sql("ALTER TABLE runs DROP COLUMN slices_json")
        db.exec_driver_sql("ALTER TABLE predictions DROP COLUMN probabilities_json")
        db.exec_driver_sql("ALTER TABLE runs DROP COLUMN backend")
        db.exec_driver_sql("DROP TABLE working_sets")
        db.execute(schema.schema_version.insert().values(version=1, applied_at=0.0))
    store = Store(url)
    assert versions(store) == [1, 2, 3, 4, 5]
    store.save_working_set("user:a", "{}", b"x")  # and the working-set table of version 3
    assert store.load_working_set("user:a") == ("{}", b"x")
    rows = "".join(f"{text},{label},{'web' if i % 3 else 'mail'}\n" for i, (text, label) in enumerate(synthetic_rows))
    sample = load_csv(("text,label,channel\n" + rows).encode(), slice_columns=["channel"])
    assert set(sample.metadata["channel"]) == {"web", "mail"}
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a")]
    run_id = store.create_run(sample, [asdict(s) for s in specs])
    assert store.auto_resumes(run_id) == 0
    store.save_trial(run_id, 0, run_trial(specs[0], sample))  # version 4: probabilities and slices
    loaded = store.load_run(run_id)
    assert loaded.results[0].predictions[0].probabilities is not None
    assert loaded.slices["channel"] == sample.metadata["channel"]
    assert store.load_sample(run_id).metadata == sample.metadata
    assert store.claim(run_id, host="h1", backend="Ray cluster at 127.0.0.1:6379")  # version 5: where trials ran
    assert store.run_summary(run_id).backend == "Ray cluster at 127.0.0.1:6379"


def versions(store: Store) -> list[int]:
    with store.engine.connect() as db:
        return db.execute(sa.text("SELECT version FROM schema_version ORDER BY version")).scalars().all()


def test_workers_on_two_hosts_never_claim_the_same_job(store):
    """Two workers (separate connections, as on two machines sharing one database) race for every queued
    job: each job is claimed once, and all are claimed."""
    sample = rows_sample(12)
    run_ids = [submit(store, sample, [TrialSpec(kind="baseline-majority", dtype="n/a")]) for _ in range(12)]
    stores = [Store(store.url) for _ in range(2)]  # each its own engine and connections
    turns = iter(range(2))
    picking = threading.Lock()

    def claim_all() -> list[str]:
        with picking:
            mine = stores[next(turns)]
        return [run_id for run_id, _ in mine.queued_runs() if mine.claim(run_id, host=f"host-{id(mine)}")]

    claimed = run_in_threads(claim_all, 2)  # started together at a barrier
    everything = [run_id for ids in claimed for run_id in ids]
    assert sorted(everything) == sorted(run_ids) and len(set(everything)) == len(everything), "no job claimed twice"
    assert {store.job_progress(r).status for r in run_ids} == {"running"}


def test_schema_compiles_for_postgresql():
    statements = []
    engine = sa.create_mock_engine("postgresql://", lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect))))
    schema.metadata.create_all(engine, checkfirst=False)
    ddl = "\n".join(statements)
    assert "version INTEGER NOT NULL" in ddl and ddl.count("ON DELETE CASCADE") == 4
    assert "CREATE TABLE runs" in ddl and "CREATE TABLE predictions" in ddl


def test_a_full_disk_while_saving_keeps_what_was_committed(store, synthetic_csv, monkeypatch):
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a"), TrialSpec(kind="baseline-tfidf", dtype="n/a")]
    run_id = submit(store, load_csv(synthetic_csv), specs)
    real_save, failures = store.save_trial, []

    def save_until_the_disk_fills(run, position, result, **kwargs):
        if position == 1 and not failures:  # each database's own words when a write finds no room
            failures.append(position)
            raise sa.exc.OperationalError("INSERT INTO predictions ...", {}, disk_full_error(store))
        real_save(run, position, result, **kwargs)

    monkeypatch.setattr(store, "save_trial", save_until_the_disk_fills)
    worker = Worker(store, get_settings())
    assert store.claim(run_id, host=worker.host)
    worker._run_job(run_id)

    progress = store.job_progress(run_id)
    assert progress.status == "failed"
    assert progress.failure.startswith("The results store ran out of disk space while saving")
    assert "MSD_DATA_DIR" in progress.failure
    first, second = store.load_run(run_id).results
    assert first.ok and len(first.predictions) == len(load_csv(synthetic_csv))  # committed before: intact
    assert second.error == progress.failure  # marked, so `runs resume` runs it again
    assert trial_rows(run_id)[0][0] == "ok"  # (SQLite: an integrity check too)


def disk_full_error(store: Store) -> Exception:
    if store.engine.dialect.name == "sqlite":
        return sqlite3.OperationalError("database or disk is full")
    import psycopg

    return psycopg.errors.DiskFull('could not extend file "base/16384/16450": No space left on device')


def test_evaluate_store_interrupted_while_saving_leaves_no_run_that_looks_running(store, synthetic_csv, monkeypatch):
    """Audit item 6: Ctrl-C during `evaluate --store`'s save left a run 'running' forever, with no
    host for the worker's recovery, that could be neither cancelled, deleted nor resumed."""
    import core.store.runs as store_module  # where save_completed_run looks write_trial up

    sample = load_csv(synthetic_csv)
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a"), TrialSpec(kind="baseline-tfidf", dtype="n/a")]
    result = run_plan(specs, sample, settings=get_settings())
    write_trial = store_module.write_trial

    def interrupted_at_the_second(db, run_id, position, trial, **options):
        if position == 1:
            raise KeyboardInterrupt
        write_trial(db, run_id, position, trial, **options)

    monkeypatch.setattr(store_module, "write_trial", interrupted_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        store.save_completed_run(sample, [asdict(s) for s in specs], result)
    assert store.list_runs() == [], "nothing half-saved is left"
    monkeypatch.setattr(store_module, "write_trial", write_trial)
    run_id = store.save_completed_run(sample, [asdict(s) for s in specs], result)
    assert [(r.id, r.status) for r in store.list_runs()] == [(run_id, "done")]
    assert [r.status for r in store.load_run(run_id).results] == ["ok", "ok"]


def read_only_store_url() -> str:
    """The test's database opened read-only by SQLite itself (root ignores file permissions)."""
    return f"sqlite:///file:{get_settings().data_dir / 'runs.sqlite'}?mode=ro&uri=true"


@pytest.mark.parametrize("how", ["--store", "--submit"])
def test_a_read_only_store_is_one_sentence_naming_the_file_from_the_command_line(sqlite_store, synthetic_csv, tmp_path, monkeypatch, capsys, how):
    """Audit item 9: a read-only results database gave raw OperationalError tracebacks."""
    store = sqlite_store
    monkeypatch.setenv("DATABASE_URL", read_only_store_url())
    out = tmp_path / "results.json"
    assert cli(["evaluate", "--data", str(synthetic_csv), "--out", str(out), "--quiet", how]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"error: The results database {get_settings().data_dir / 'runs.sqlite'} cannot be written "
                           "(attempt to write a readonly database); nothing was saved. Make the file and its folder writable")
    assert (how == "--store") == out.exists(), "evaluate --store wrote its results file before trying the store"
    assert store.list_runs() == []


def test_a_worker_on_a_read_only_store_says_so_once_stays_up_and_runs_the_job_once_it_can_write(sqlite_store, monkeypatch, caplog):
    """Audit item 9: the worker exited on a read-only database and left the job queued."""
    store = sqlite_store
    import core.worker as worker_module

    monkeypatch.setattr(worker_module, "STORE_RETRY_S", 0.1)
    run_id = submit(store, rows_sample(20), [TrialSpec(kind="baseline-majority", dtype="n/a")])
    worker = Worker(Store(read_only_store_url()), get_settings())
    serving = threading.Thread(target=worker.serve)
    serving.start()
    try:
        wait_for(lambda: worker.store_trouble)
        time.sleep(1.0)  # about ten more tries
        assert serving.is_alive() and store.job_progress(run_id).status == "queued"
        said = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
        assert len(said) == 1, "said once, not at every try"
        assert said[0].startswith(f"The results database {get_settings().data_dir / 'runs.sqlite'} cannot be written")
        worker.store = store  # the file was made writable
        wait_for(lambda: store.job_progress(run_id).status == "done")
    finally:
        worker.stopping.set()
        serving.join(60)


def test_a_second_worker_on_the_same_data_directory_refuses_to_start(store, tmp_path):
    """Audit, handled but untested: two workers on one data directory would run every job twice."""
    assert ensure_worker(get_settings(), store=store)
    first = wait_for(lambda: worker_pid(get_settings()))
    second = subprocess.run([sys.executable, "-m", "core", "worker"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1] == "error: Another worker is already running on this machine. One is enough."
    assert worker_pid(get_settings()) == first, "the first one is untouched"


def test_a_running_run_cannot_be_deleted_and_can_be_once_it_ended(store, tmp_path, monkeypatch):
    """Audit, handled but untested: deleting a run under a working worker."""
    run_id = gate_job(store, tmp_path, monkeypatch)
    assert ensure_worker(get_settings(), store=store)
    wait_for(lambda: store.job_progress(run_id).status == "running")
    with pytest.raises(InputError) as refused:
        store.delete_run(run_id)
    assert refused.value.sentence == f"Run {run_id} is running and cannot be deleted. Cancel it first, then delete it."
    (tmp_path / "gate").unlink()
    wait_for(lambda: store.job_progress(run_id).status == "done")
    assert [r.status for r in store.load_run(run_id).results] == ["ok", "ok", "ok"], "the refused delete changed nothing"
    assert store.delete_run(run_id) is True and store.list_runs() == []

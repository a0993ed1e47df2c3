"""Trials on a real Ray head (tests/ray_cluster.py): in parallel, crashes and hangs as error rows,
cancel reaching a running task, a worker killed while its tasks run, loopback only.

A lost node is checked as a sentence only: a second node cannot join here. With
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (what keeps Ray on loopback in our sandbox) Ray refuses
multi-node clusters, and without it the node would advertise the machine's external address."""

import os
import signal
from pathlib import Path

import pytest
import ray.exceptions as ray_errors

from core.backend_status import backend_sentence, read_status
from core.ray_trials import failure_sentence, forwarded_environment, resources_for
from core.runner import TrialSpec
from core.settings import get_settings
from core.worker import submit
from tests.ray_cluster import LOOPBACK_ENV, listening_addresses
from core.store import Store
from tests.test_worker import WorkerProcess, env, rows_sample, sqlite_store, wait_for, worker_running  # noqa: F401

CRASHED = ("The Ray worker process running this trial died unexpectedly "
           "(killed, crashed, or the system ran out of memory).")


@pytest.fixture
def team_store(env, postgres_server, monkeypatch) -> Store:
    """A team's setup: the results on a real PostgreSQL server, the trials on the Ray cluster."""
    monkeypatch.setenv("DATABASE_URL", postgres_server.new_database())
    return Store(settings=get_settings())


@pytest.fixture
def pid_dir(tmp_path, monkeypatch) -> Path:
    """Each fault trial leaves a file named after its process id here (tests/fault_kinds.py)."""
    folder = tmp_path / "pids"
    folder.mkdir()
    monkeypatch.setenv("MSD_TEST_PID_DIR", str(folder))
    return folder


def on_cluster(monkeypatch, address: str, cpus_per_trial: float = 1) -> None:
    for key, value in {**LOOPBACK_ENV, "MSD_RAY_ADDRESS": address, "MSD_RAY_CPUS_PER_TRIAL": str(cpus_per_trial)}.items():
        monkeypatch.setenv(key, value)


def started(pid_dir: Path) -> list[int]:
    return [int(p.name) for p in pid_dir.iterdir()]


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def gate(tmp_path, monkeypatch) -> Path:
    file = tmp_path / "gate"
    file.touch()
    monkeypatch.setenv("MSD_TEST_GATE", str(file))
    return file


# -- without a cluster -----------------------------------------------------------------------


def test_trials_reserve_a_gpu_or_the_cpus_set_and_the_token_never_travels(monkeypatch):
    monkeypatch.setenv("MSD_RAY_CPUS_PER_TRIAL", "4")
    assert resources_for("cuda:1", get_settings()) == {"num_gpus": 1, "num_cpus": 1}
    assert resources_for("cpu", get_settings()) == {"num_gpus": 0, "num_cpus": 4.0}
    environ = {"MSD_SEED": "3", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_secret", "MSD_HF_TOKEN": "x",
               "PATH": "/bin"}
    assert forwarded_environment(environ) == {"MSD_SEED": "3", "HF_ENDPOINT": "http://127.0.0.1:9"}


def test_out_of_memory_and_a_lost_node_are_sentences():
    assert failure_sentence(ray_errors.OutOfMemoryError("node 1 used 97%")).startswith(
        "Ray stopped the process running this trial because its node ran low on memory.")
    assert failure_sentence(ray_errors.NodeDiedError("node gone")).startswith("The Ray node running this trial died")
    assert failure_sentence(ray_errors.WorkerCrashedError()) == CRASHED


# -- on a real head ---------------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.postgres
def test_two_trials_run_at_once_on_the_cluster_which_history_and_the_sidebar_name(ray_head, team_store, tmp_path,
                                                                                   monkeypatch, pid_dir):
    store = team_store
    on_cluster(monkeypatch, ray_head.address)
    opened = gate(tmp_path, monkeypatch)
    specs = [TrialSpec(kind="test-gate", dtype="n/a", batch_size=8), TrialSpec(kind="test-gate", dtype="n/a", batch_size=8),
             TrialSpec(kind="baseline-majority", dtype="n/a")]
    run_id = submit(store, rows_sample(40), specs)
    with worker_running(tmp_path / "worker.log") as worker:
        both = wait_for(lambda: len(started(pid_dir)) == 2 and started(pid_dir))  # both wait at the gate: at once
        progress = wait_for(lambda: (p := store.job_progress(run_id)).trial_name and "more running on Ray" in p.trial_name and p)
        assert progress.trial_name.startswith("test-gate (+")
        opened.unlink()
        wait_for(lambda: store.job_progress(run_id).status == "done")
    run = store.load_run(run_id)
    assert [r.status for r in run.results] == ["ok", "ok", "ok"]
    assert all(any(n.startswith("Ran on the Ray node 127.0.0.1 with 1 CPU(s) reserved") for n in r.notes) for r in run.results)
    assert worker.process.pid not in both and len(set(both)) == 2, "each trial in a fresh process of its own"
    assert store.run_summary(run_id).backend == f"Ray cluster at {ray_head.address}"
    status = read_status(get_settings())
    assert (status.nodes, status.cpus, status.gpus) == (1, 4.0, 0.0)
    assert backend_sentence(get_settings()).startswith(f"Trials run on the Ray cluster at {ray_head.address}: 1 node(s), ")
    listening = listening_addresses(ray_head.group_pids())
    assert listening and all(a.startswith("127.0.0.1:") for a in listening), listening


@pytest.mark.ray
def test_killed_exiting_hanging_and_out_of_memory_trials_become_error_rows(ray_head, sqlite_store, tmp_path, monkeypatch,
                                                                           pid_dir):
    on_cluster(monkeypatch, ray_head.address)
    monkeypatch.setenv("MSD_TRIAL_TIMEOUT_S", "8")
    specs = [TrialSpec(kind=f"test-{b}", dtype="n/a") for b in ("killed", "exit", "hang", "oom")]
    run_id = submit(sqlite_store, rows_sample(20), [*specs, TrialSpec(kind="baseline-majority", dtype="n/a")])
    with worker_running(tmp_path / "worker.log"):
        wait_for(lambda: not sqlite_store.job_progress(run_id).active)
    results = sqlite_store.load_run(run_id).results
    assert results[0].error == CRASHED and results[1].error == CRASHED
    assert results[2].error == "The trial took longer than 8 s and was stopped (setting MSD_TRIAL_TIMEOUT_S)."
    assert results[3].error.startswith("Ran out of memory on cpu.")
    assert results[4].ok and sqlite_store.job_progress(run_id).status == "done"
    hung = [pid for pid in started(pid_dir) if (pid_dir / str(pid)).read_text() == "hang"]
    assert len(hung) == 1 and wait_for(lambda: gone(hung[0]), timeout_s=30), "the hung task was stopped by force"


@pytest.mark.ray
def test_cancel_from_the_dashboard_stops_running_ray_tasks(ray_head, sqlite_store, tmp_path, monkeypatch, pid_dir):
    on_cluster(monkeypatch, ray_head.address, cpus_per_trial=2)  # two trials at a time on the head's 4 CPUs
    specs = [TrialSpec(kind="test-hang", dtype="n/a"), TrialSpec(kind="test-hang", dtype="n/a"),
             TrialSpec(kind="baseline-majority", dtype="n/a")]
    run_id = submit(sqlite_store, rows_sample(20), specs)
    with worker_running(tmp_path / "worker.log"):
        running = wait_for(lambda: len(started(pid_dir)) == 2 and started(pid_dir))
        assert sqlite_store.request_cancel(run_id)
        wait_for(lambda: sqlite_store.job_progress(run_id).status == "cancelled", timeout_s=30)
    assert all(wait_for(lambda: gone(pid), timeout_s=30) for pid in running)
    errors = [r.error for r in sqlite_store.load_run(run_id).results]
    assert errors[:2] == ["Cancelled while running; finished trials are kept."] * 2
    assert errors[2] == "Cancelled before it started.", "the third waited for a free CPU"


@pytest.mark.ray
def test_a_worker_killed_while_its_ray_tasks_run_leaves_them_interrupted_and_resumable(ray_head, sqlite_store, tmp_path,
                                                                                      monkeypatch, pid_dir):
    """Ray ends the tasks of a driver that died: they are marked interrupted and resumed, never found again."""
    on_cluster(monkeypatch, ray_head.address)
    monkeypatch.setenv("MSD_AUTO_RESUME_ATTEMPTS", "0")
    opened = gate(tmp_path, monkeypatch)
    specs = [TrialSpec(kind="baseline-majority", dtype="n/a"), TrialSpec(kind="test-gate", dtype="n/a", batch_size=8)]
    run_id = submit(sqlite_store, rows_sample(40), specs)
    first = WorkerProcess(tmp_path / "worker.log").start()
    try:
        task = wait_for(lambda: started(pid_dir))[0]
        wait_for(lambda: (done := sqlite_store.load_run(run_id).results) and done[0].ok)  # saved while the other runs
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(30)
    assert wait_for(lambda: gone(task), timeout_s=60), "Ray ended the task of the worker that died"
    with worker_running(tmp_path / "worker2.log"):
        wait_for(lambda: sqlite_store.job_progress(run_id).status == "interrupted")
        assert "worker stopped while this trial was running" in sqlite_store.load_run(run_id).results[1].error
        opened.unlink()
        assert sqlite_store.resume(run_id) == 1
        wait_for(lambda: sqlite_store.job_progress(run_id).status == "done")
    assert [r.status for r in sqlite_store.load_run(run_id).results] == ["ok", "ok"]

"""The machine's worker process: whether it is alive, starting it, and healing after it died.

One worker per machine (per data directory) holds a file lock, which the OS releases even on
SIGKILL: that is how everyone knows whether one is alive. `heal` is called by every page load
and every progress refresh, so a worker that died is replaced without anybody submitting
anything: with the lock held (no worker can start meanwhile) the runs the dead worker left
running are marked interrupted at once, those under the setting's limit are queued again by
themselves, and a new worker gets the lock when jobs wait. A run whose model kills the worker
every time is resumed `MSD_AUTO_RESUME_ATTEMPTS` times, then waits for a person.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import AppError, InputError
from core.runner import TrialSpec, assemble_run, new_result
from core.settings import AUTO_RESUME_ATTEMPTS, DATA_DIR, Settings, get_settings
from core.store import DONE, FAILED, INTERRUPTED, Store, this_host

log = logging.getLogger(__name__)
LOCK_WAIT_S = 2.0
ROOT = Path(__file__).resolve().parent.parent
INTERRUPTED_SENTENCE = "The worker stopped while this trial was running; resume the run to run it again."


@dataclass(frozen=True)
class Healing:
    """What one `heal` call did."""

    interrupted: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    started_worker: bool = False


def lock_path(settings: Settings) -> Path:
    return settings.data_dir / "worker.lock"


def worker_alive(settings: Settings | None = None) -> bool:
    """Whether a worker holds this machine's worker lock right now."""
    path = lock_path(settings or get_settings())
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def worker_pid(settings: Settings | None = None) -> int | None:
    """The process id of the live worker holding the lock, or None (never a dead worker's id:
    the lock file is emptied when the lock is taken and the new worker's id written at its start)."""
    settings = settings or get_settings()
    if not worker_alive(settings):
        return None
    text = lock_path(settings).read_text().strip()
    if not text.isdigit():
        return None
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return None
    return int(text)


def stop_worker(settings: Settings | None = None, *, timeout_s: float = 30) -> bool:
    """SIGTERM the live worker (it ends its current trial as interrupted) and wait until it has let
    go of the lock; True if one was running. Only the process holding this data directory's lock."""
    settings = settings or get_settings()
    pid = worker_pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while worker_alive(settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def ensure_worker(settings: Settings | None = None, *, store: Store | None = None) -> bool:
    """Start a background worker unless one is alive (healing first); True if this call started one."""
    settings = settings or get_settings()
    return heal(store or Store(settings=settings), settings, start_idle=True).started_worker


def heal(store: Store, settings: Settings | None = None, *, start_idle: bool = False) -> Healing:
    """With no live worker: mark what a dead one left running, queue it again within the limit,
    and start a worker when jobs wait (or always, with `start_idle`). Cheap while one is alive."""
    settings = settings or get_settings()
    if worker_alive(settings):
        return Healing()
    handle = take_lock(settings)
    if handle is None:  # another caller is healing or starting a worker right now
        return Healing()
    with handle:
        interrupted = mark_interrupted(store, settings, host=this_host())
        resumed = resume_interrupted(store, interrupted, settings)
        started = bool(start_idle or store.queued_runs()) and start_worker(handle, settings)
    return Healing(tuple(interrupted), tuple(resumed), started)


def take_lock(settings: Settings):
    """The worker lock, taken and emptied of the last holder's id; None when someone holds it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = lock_path(settings).open("a")
    if not try_lock(handle, wait_s=0.2):  # a moment, in case another caller's probe holds it
        handle.close()
        return None
    handle.truncate(0)
    handle.flush()
    return handle


def start_worker(handle, settings: Settings) -> bool:
    """A worker process that inherits the held lock; its id is written at once."""
    with (settings.data_dir / "worker.log").open("a") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "core", "worker", "--lock-fd", str(handle.fileno())], cwd=ROOT,
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            pass_fds=[handle.fileno()], env={**os.environ, DATA_DIR: str(settings.data_dir.resolve())},
        )
    write_pid(handle, process.pid)
    return True


def mark_interrupted(store: Store, settings: Settings, *, host: str) -> list[str]:
    """The runs a worker on `host` left running: their running trials and the runs become interrupted."""
    found = store.running_trials(host=host)
    for run_id, running in found.items():
        for position, spec in running:
            row = new_result(TrialSpec(**spec), settings, error=INTERRUPTED_SENTENCE)
            store.save_trial(run_id, position, row, status=INTERRUPTED)
        store.set_run_status(run_id, INTERRUPTED)
        store.clear_progress(run_id)
        log.warning("run %s was interrupted by a worker that stopped", run_id)
    return list(found)


def resume_interrupted(store: Store, run_ids: list[str], settings: Settings) -> list[str]:
    """Queue interrupted runs again by themselves, each at most `auto_resume_attempts` times."""
    resumed = []
    for run_id in run_ids:
        if store.auto_resumes(run_id) >= settings.auto_resume_attempts:
            store.set_run_status(run_id, INTERRUPTED, failure=(
                f"The worker stopped during this run {settings.auto_resume_attempts + 1} times; it was not resumed again "
                f"by itself (setting {AUTO_RESUME_ATTEMPTS}). Resume it by hand once the cause is fixed."))
            continue
        try:
            store.resume(run_id, automatic=True)
        except InputError:  # every trial had ended: the worker died before closing the run
            close_run(store, run_id)
            continue
        resumed.append(run_id)
        log.warning("run %s was queued again after its worker stopped", run_id)
    return resumed


def close_run(store: Store, run_id: str) -> str:
    """Close a run whose trials have all ended, as its worker would have: paired tests, warnings, status."""
    run = store.load_run(run_id)
    finished = assemble_run(store.load_sample(run_id), run.results, command=run.command)
    status = DONE if finished.succeeded else FAILED
    store.finish_run(run_id, finished, status=status)
    log.warning("run %s had ended all its trials when its worker stopped; closed as %s", run_id, status)
    return status


def hold_worker_lock(settings: Settings, *, inherited_fd: int | None = None):
    """Take (or keep, when handed over by `heal`) this machine's worker lock; write our pid in it."""
    handle = os.fdopen(inherited_fd, "a") if inherited_fd is not None else lock_path(settings).open("a")
    os.set_inheritable(handle.fileno(), False)
    if not try_lock(handle, wait_s=LOCK_WAIT_S):  # a `worker_alive` probe may hold it for a moment
        handle.close()
        raise AppError("Another worker is already running on this machine.", hint="One is enough.")
    write_pid(handle, os.getpid())
    return handle


def write_pid(handle, pid: int) -> None:
    handle.truncate(0)
    handle.write(f"{pid}\n")
    handle.flush()


def try_lock(handle, *, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

"""One trial in a child process, watched by the worker for progress, stop requests, timeout and crashes.

A model that crashes, runs out of memory or hangs takes down only its own child. Children are forked
from a server that imported the engine once; they end with the worker, even one killed by SIGKILL.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait

from core.dataset import LabeledSample
from core.errors import install_log_redaction
from core.results import TrialResult, trial_from_dict, trial_to_dict
from core.runner import TrialSpec, new_result, run_trial
from core.settings import TRIAL_TIMEOUT_S, Settings, get_settings
from core.store import CANCELLED
from core.supervision import INTERRUPTED_SENTENCE

PROGRESS_INTERVAL_S = 0.5
KILL_GRACE_S = 2.0


def _exit_with_worker(connection) -> None:
    """End this child as soon as the worker is gone, even if the worker died by SIGKILL.

    The worker never writes to the pipe, so a read returns only when the worker's end closes.
    (The fork server cannot do this for us: every child holds the descriptor that would
    tell it the worker died, so it waits for its children.)
    """

    def watch() -> None:
        try:
            connection.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="worker-lifeline", daemon=True).start()


def _die_with_parent() -> None:
    """Linux: have the kernel kill this child if the fork server that forked it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main(connection, spec: dict, sample: LabeledSample, plugins: tuple[str, ...]) -> None:
    install_log_redaction()  # a fork-server child starts from a fresh interpreter
    _die_with_parent()
    _exit_with_worker(connection)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, which stops its trials
    for plugin in plugins:
        importlib.import_module(plugin)

    def report(step: str, rows_done: float = 0, rows_total: int = 0) -> None:
        connection.send(("progress", {"step": step, "rows_done": rows_done, "rows_total": rows_total}))

    settings = get_settings()
    yield_to_the_web_server(settings)
    result = run_trial(TrialSpec(**spec), sample, settings=settings, progress=report)
    connection.send(("result", trial_to_dict(result)))


def yield_to_the_web_server(settings: Settings) -> None:
    """Run this trial at a lower CPU priority (and, if set, on fewer threads), so pages stay quick
    while trials use every core of a shared server."""
    if settings.trial_nice:
        os.nice(settings.trial_nice)
    if settings.trial_threads:
        import torch

        torch.set_num_threads(settings.trial_threads)


def trial_context(plugins: tuple[str, ...]):
    """Children forked from a server that imported the engine once: a fresh process per
    trial without paying for importing torch and transformers each time."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["core.runner", *plugins])
    return context


@dataclass(frozen=True)
class TrialState:
    """What the child last said: its step and how many rows of the full pass are done."""

    step: str = "starting"
    rows_done: float = 0.0
    rows_total: int = 0
    step_started_at: float = 0.0  # epoch seconds


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended: `status` is the trial's stored status, `result` its row."""

    status: str  # "ok" | "error" | CANCELLED | INTERRUPTED
    result: TrialResult


class TrialProcess:
    """One trial in a child process, watched for progress, stop requests, timeout and crashes.

    `on_progress(state)` is called every PROGRESS_INTERVAL_S; `should_stop()` returns None, or
    CANCELLED / INTERRUPTED to stop the child.
    """

    def __init__(self, spec: dict, sample: LabeledSample, settings: Settings, *,
                 on_progress: Callable[[TrialState], None], should_stop: Callable[[], str | None]) -> None:
        self.spec, self.settings = spec, settings
        self.on_progress, self.should_stop = on_progress, should_stop
        context = trial_context(settings.plugins)
        self.connection, self.child_end = context.Pipe(duplex=True)  # duplex: the child also sees us go
        self.process = context.Process(
            target=_child_main, args=(self.child_end, spec, sample, settings.plugins), daemon=True, name="trial",
        )
        self.state = TrialState(step_started_at=time.time())
        self.pipe_open = True

    def run(self) -> TrialOutcome:
        self.on_progress(self.state)  # before the start, which waits for the fork server the first time
        self.process.start()
        self.child_end.close()  # the child has its copy; ours would hide the child's end of the pipe
        try:
            return self._watch(time.monotonic() + self.settings.trial_timeout_s)
        finally:
            self._stop()

    def _watch(self, deadline: float) -> TrialOutcome:
        while True:
            self.on_progress(self.state)
            result = self._receive_until(time.monotonic() + PROGRESS_INTERVAL_S)
            if result is not None:
                return TrialOutcome(result.status, result)
            if not self.pipe_open:
                return self._failure("error", self._exit_sentence())
            stop = self.should_stop()
            if stop:
                return self._failure(stop, stop_sentence(stop))
            if time.monotonic() >= deadline:
                return self._failure("error", timeout_sentence(self.settings))

    def _receive_until(self, until: float) -> TrialResult | None:
        """Take the child's messages until `until`; the result if it came. A closed pipe ends it early."""
        while self.pipe_open and (left := until - time.monotonic()) > 0:
            if not wait([self.connection], timeout=left):
                return None
            try:
                kind, payload = self.connection.recv()
            except (EOFError, OSError):
                self.pipe_open = False  # the child is gone
                return None
            if kind == "result":
                return trial_from_dict(payload)
            self._update(payload)
        return None

    def _update(self, payload: dict) -> None:
        started = self.state.step_started_at if payload["step"] == self.state.step else time.time()
        self.state = TrialState(payload["step"], float(payload["rows_done"]), int(payload["rows_total"]), started)

    def _exit_sentence(self) -> str:
        self.process.join(KILL_GRACE_S)
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            cause = " (the system may have run out of memory)" if -code == signal.SIGKILL else ""
            return f"The process running this trial was killed by {name}{cause}."
        return f"The process running this trial exited unexpectedly with code {code}."

    def _failure(self, status: str, sentence: str) -> TrialOutcome:
        return TrialOutcome(status, new_result(TrialSpec(**self.spec), self.settings, error=sentence))

    def _stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(KILL_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(KILL_GRACE_S)
        self.connection.close()


def stop_sentence(status: str) -> str:
    if status == CANCELLED:
        return "Cancelled while running; finished trials are kept."
    return INTERRUPTED_SENTENCE


def timeout_sentence(settings: Settings) -> str:
    return f"The trial took longer than {settings.trial_timeout_s:g} s and was stopped (setting {TRIAL_TIMEOUT_S})."

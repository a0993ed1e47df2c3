"""Trials on a Ray cluster (setting MSD_RAY_ADDRESS): each trial a Ray task, scheduled by its device.

The worker stays the one that claims jobs and writes the store; only the trials move. A job's
pending trials are all submitted at once and Ray runs them wherever their resources are free:
`num_gpus=1` for a CUDA trial (Ray sets CUDA_VISIBLE_DEVICES, so the task runs on "cuda"),
`num_cpus` = MSD_RAY_CPUS_PER_TRIAL for a CPU trial (also its torch threads).

Every task runs in a fresh process (`max_calls=1`, as the local worker's child per trial) and is
never retried (`max_retries=0`: Ray would run a crashed trial three more times, and one that ran out
of memory without end). Ray has no per-task timeout: the worker waits with `ray.wait` and stops a
trial past MSD_TRIAL_TIMEOUT_S (counted from when it started on its node, not while it waited for
room) or one whose run was cancelled with `ray.cancel(force=True)`; a plain cancel does not stop a
task busy in native code.

Progress: a task reports each step to a small actor, the progress relay, which the worker asks
twice a second and copies to the store. Tasks never need the database, so a cluster with no route to
it works. The relay is one actor per worker process, found again if it died.

Code and settings: the worker ships `core` (and the packages of MSD_PLUGINS) to the cluster with
the job (`py_modules`), so nodes run the dashboard's code; they need the same Python packages
(requirements.txt). The MSD_* settings and where models come from (HF_ENDPOINT, HF_HUB_OFFLINE,
HF_HOME, HF_HUB_CACHE) travel with it; the Hugging Face token never does: nodes that read gated
models need their own.

When the worker stops or dies, Ray ends the tasks it owns; their trials are marked interrupted and
are resumed like the local worker's (core.supervision), never found again.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray
import ray.exceptions as ray_errors

from core.backend_status import ClusterStatus, write_status
from core.dataset import LabeledSample
from core.errors import AppError, install_log_redaction
from core.results import trial_from_dict, trial_to_dict
from core.runner import TrialSpec, new_result, run_trial
from core.settings import RAY_ADDRESS, Settings, get_settings
from core.store import CANCELLED
from core.trial_process import PROGRESS_INTERVAL_S, TrialOutcome, stop_sentence, timeout_sentence

log = logging.getLogger(__name__)
#: Environment variables a trial needs on its node besides the MSD_* settings. Never HF_TOKEN.
FORWARDED_HF_VARIABLES = ("HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE")
NAMESPACE = "model-selection-dashboard"
#: How often a task sends rows done (a new step is always sent at once).
REPORT_INTERVAL_S = 0.3
RELAY_TIMEOUT_S = 10.0
_connect_lock = threading.Lock()
_relay_lock = threading.Lock()
_relay = None


# -- connecting ------------------------------------------------------------------------------


def forwarded_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The settings a trial reads, as they are where the worker runs; the token is never among them."""
    environ = os.environ if environ is None else environ
    return {key: value for key, value in environ.items()
            if (key.startswith("MSD_") or key in FORWARDED_HF_VARIABLES) and "TOKEN" not in key}


def shipped_packages(plugins: tuple[str, ...]) -> list[str]:
    """Folders of `core` and of each plugin's top-level package, shipped to the cluster with the job."""
    folders = [str(Path(__file__).resolve().parent)]
    for plugin in plugins:
        spec = importlib.util.find_spec(plugin.split(".")[0])
        if spec and spec.submodule_search_locations:
            folders.append(str(Path(next(iter(spec.submodule_search_locations))).resolve()))
    return list(dict.fromkeys(folders))


def connect(settings: Settings) -> None:
    """Join the cluster at MSD_RAY_ADDRESS once per process; a sentence naming the setting if it cannot."""
    with _connect_lock:
        if ray.is_initialized():
            return
        runtime_env = {"py_modules": shipped_packages(settings.plugins), "env_vars": forwarded_environment(),
                       "excludes": ["__pycache__", "*.pyc"]}
        try:
            ray.init(address=settings.ray_address, namespace=NAMESPACE, runtime_env=runtime_env,
                     logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterUnreachable(settings.ray_address, error) from error


class ClusterUnreachable(AppError):
    """The Ray cluster named by MSD_RAY_ADDRESS cannot be joined."""

    def __init__(self, address: str, error: BaseException) -> None:
        super().__init__(f"Could not reach the Ray cluster at {address} ({type(error).__name__}: {error}).",
                         hint=f"Check that its head is running and reachable, or unset {RAY_ADDRESS} to run trials "
                              "on this machine; finished trials are kept and the run can be resumed.")


# -- the cluster, for the sidebar and History ------------------------------------------------


def cluster_status(settings: Settings) -> ClusterStatus:
    """The cluster's nodes and resources now, joining it first; its error sentence if it cannot be joined."""
    try:
        connect(settings)
        total, free = ray.cluster_resources(), ray.available_resources()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    except ClusterUnreachable as error:
        return ClusterStatus(settings.ray_address, error=error.sentence)
    return ClusterStatus(settings.ray_address, nodes, total.get("CPU", 0.0), total.get("GPU", 0.0),
                         free.get("CPU", 0.0), free.get("GPU", 0.0))


def report_cluster(settings: Settings) -> ClusterStatus:
    """Look at the cluster and leave what was found for the pages (core.backend_status)."""
    status = cluster_status(settings)
    write_status(settings, status)
    return status


# -- one trial, on a node --------------------------------------------------------------------


def resources_for(device: str, settings: Settings) -> dict[str, float]:
    """What Ray reserves for a trial on `device`."""
    if device.startswith("cuda"):
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_gpus": 0, "num_cpus": settings.ray_cpus_per_trial}


@ray.remote(num_cpus=0)
class ProgressRelay:
    """Holds each running trial's latest progress until the worker takes it."""

    def __init__(self) -> None:
        self.latest: dict[str, dict] = {}

    def report(self, key: str, payload: dict) -> None:
        self.latest[key] = payload

    def take(self, keys: list[str]) -> dict[str, dict]:
        return {key: self.latest[key] for key in keys if key in self.latest}

    def forget(self, keys: list[str]) -> None:
        for key in keys:
            self.latest.pop(key, None)


def progress_relay():
    """This worker's relay actor, made again if it died (its node was lost)."""
    global _relay
    with _relay_lock:
        if _relay is not None:
            try:
                ray.get(_relay.take.remote([]), timeout=RELAY_TIMEOUT_S)
                return _relay
            except ray_errors.RayError:
                log.warning("the progress relay was lost; starting a new one")
        _relay = ProgressRelay.remote()
        return _relay


class _Reporter:
    """The task's side of the relay: every new step at once, rows at most every REPORT_INTERVAL_S."""

    def __init__(self, relay, key: str, node: str) -> None:
        self.relay, self.key = relay, key
        self.started_at, self.node = time.time(), node
        self.sent_at, self.step, self.step_started_at = 0.0, None, self.started_at

    def __call__(self, step: str, rows_done: float = 0, rows_total: int = 0) -> None:
        if step == self.step and time.monotonic() - self.sent_at < REPORT_INTERVAL_S:
            return
        if step != self.step:
            self.step, self.step_started_at = step, time.time()
        self.sent_at = time.monotonic()
        self.relay.report.remote(self.key, {"step": step, "rows_done": rows_done, "rows_total": rows_total,
                                            "started_at": self.started_at, "step_started_at": self.step_started_at,
                                            "pid": os.getpid(), "node": self.node})


@ray.remote(max_retries=0, max_calls=1)
def run_trial_task(spec: dict, sample: LabeledSample, relay, key: str, cpus: float) -> dict:
    """One trial in a fresh process on a node; returns its result as a dict."""
    install_log_redaction()
    settings = get_settings()
    for plugin in settings.plugins:
        importlib.import_module(plugin)
    node = ray.util.get_node_ip_address()
    report = _Reporter(relay, key, node)
    report("starting")
    gpu = spec["device"].startswith("cuda")
    if not gpu and cpus >= 1:
        import torch

        torch.set_num_threads(int(cpus))
    here = TrialSpec(**{**spec, "device": "cuda"}) if gpu else TrialSpec(**spec)  # Ray gave this task one GPU
    result = run_trial(here, sample, settings=settings, progress=report)
    result.device = spec["device"]
    reserved = "one GPU and one CPU" if gpu else f"{cpus:g} CPU(s)"
    result.notes.append(f"Ran on the Ray node {node} with {reserved} reserved.")
    return trial_to_dict(result)


def failure_sentence(error: BaseException) -> str:
    """Why a trial's Ray task ended without a result, for the error row."""
    if isinstance(error, ray_errors.OutOfMemoryError):
        return ("Ray stopped the process running this trial because its node ran low on memory. "
                "Try a smaller batch size, a smaller dtype, or a node with more memory.")
    if isinstance(error, (ray_errors.NodeDiedError, ray_errors.LocalRayletDiedError)):
        return "The Ray node running this trial died (it was lost or shut down) before the trial ended."
    if isinstance(error, ray_errors.WorkerCrashedError):
        return ("The Ray worker process running this trial died unexpectedly "
                "(killed, crashed, or the system ran out of memory).")
    if isinstance(error, ray_errors.RuntimeEnvSetupError):
        return f"Ray could not set up this trial's environment on the cluster: {str(error).splitlines()[0]}"
    if isinstance(error, ray_errors.RayTaskError):
        cause = error.cause if isinstance(error.cause, BaseException) else error
        return f"Unexpected error on the Ray cluster ({type(cause).__name__}): {cause}"
    return f"The Ray task running this trial failed ({type(error).__name__}): {str(error).splitlines()[0]}"


# -- a job's trials on the cluster -----------------------------------------------------------


@dataclass
class Submitted:
    """A trial handed to Ray: its place in the run, and when it started on its node (None: waiting)."""

    position: int
    spec: dict
    key: str
    started_at: float | None = None
    progress: dict = field(default_factory=dict)


class ClusterJob:
    """Runs a job's pending trials as Ray tasks at once, saving each as it ends.

    `job` is the worker's Job: it owns the store, the stop requests and the progress row.
    """

    def __init__(self, job, sample: LabeledSample) -> None:
        self.job, self.settings, self.interval_s = job, job.settings, PROGRESS_INTERVAL_S
        connect(self.settings)
        self.relay = progress_relay()
        self.sample_ref = ray.put(sample)
        self.running: dict = {}  # ObjectRef -> Submitted

    def run(self, pending: list[tuple[int, dict]]) -> None:
        for position, spec in pending:
            if self.job.stop_reason():
                break  # the ones not submitted stay pending; those submitted are stopped below
            self.submit(position, spec)
        while self.running:
            ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=self.interval_s)
            for ref in ready:
                self.save(ref, self.outcome_of(ref))
            self.follow_progress()
            if stop := self.job.stop_reason():
                self.stop_all(stop)
                return
            self.stop_overdue()

    def submit(self, position: int, spec: dict) -> None:
        self.job.store.start_trial(self.job.run_id, position)
        key = f"{self.job.run_id}/{position}"
        resources = resources_for(spec["device"], self.settings)
        ref = run_trial_task.options(**resources).remote(spec, self.sample_ref, self.relay, key, resources["num_cpus"])
        self.running[ref] = Submitted(position, spec, key)

    def outcome_of(self, ref) -> TrialOutcome:
        try:
            result = trial_from_dict(ray.get(ref))
        except ray_errors.RayError as error:
            return self.failure(self.running[ref], "error", failure_sentence(error))
        return TrialOutcome(result.status, result)

    def failure(self, submitted: Submitted, status: str, sentence: str) -> TrialOutcome:
        return TrialOutcome(status, new_result(TrialSpec(**submitted.spec), self.settings, error=sentence))

    def save(self, ref, outcome: TrialOutcome) -> None:
        submitted = self.running.pop(ref)
        self.job.store.save_trial(self.job.run_id, submitted.position, outcome.result, status=outcome.status)
        self.forget([submitted.key])

    def follow_progress(self) -> None:
        """Copy the relay's news to the store: the first trial running, and how many more run beside it."""
        by_key = {s.key: s for s in self.running.values()}
        try:
            news = ray.get(self.relay.take.remote(list(by_key)), timeout=RELAY_TIMEOUT_S)
        except ray_errors.RayError:
            self.relay = progress_relay()  # tasks still report to the lost one; progress resumes with new trials
            return
        for key, payload in news.items():
            by_key[key].started_at, by_key[key].progress = payload["started_at"], payload
        started = sorted((s for s in self.running.values() if s.started_at), key=lambda s: s.position)
        if started:
            self.write_progress(started[0], len(started) - 1)

    def write_progress(self, first: Submitted, others: int) -> None:
        name = first.spec.get("model") or first.spec["kind"]
        if others:
            name = f"{name} (+{others} more running on Ray)"
        payload = first.progress
        self.job.write_progress(trial_position=first.position, trial_name=name, trial_started_at=first.started_at,
                                step=payload.get("step", "starting"), rows_done=payload.get("rows_done", 0),
                                rows_total=payload.get("rows_total", 0),
                                step_started_at=payload.get("step_started_at", first.started_at))

    def stop_overdue(self) -> None:
        limit = self.settings.trial_timeout_s
        for ref, submitted in list(self.running.items()):
            if submitted.started_at and time.time() - submitted.started_at > limit:
                ray.cancel(ref, force=True)
                self.save(ref, self.failure(submitted, "error", timeout_sentence(self.settings)))

    def stop_all(self, status: str) -> None:
        """A cancel or a stopping worker: every task is stopped by force; their trials say which."""
        for ref, submitted in list(self.running.items()):
            ray.cancel(ref, force=True)
            waiting = status == CANCELLED and not submitted.started_at
            sentence = "Cancelled before it started." if waiting else stop_sentence(status)
            self.save(ref, self.failure(submitted, status, sentence))

    def forget(self, keys: list[str]) -> None:
        self.relay.forget.remote(keys)


def run_job_on_cluster(job, pending: list[tuple[int, dict]], sample: LabeledSample) -> None:
    """Run `pending` trials of the worker's `job` on the Ray cluster."""
    ClusterJob(job, sample).run(pending)

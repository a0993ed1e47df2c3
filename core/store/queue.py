"""Which jobs may start: the devices a job holds, and one job per GPU and `cpu_jobs` on the CPU."""

from __future__ import annotations

import socket


def job_devices(plan: list[dict]) -> set[str]:
    """The devices a job's models run on ('cuda' means 'cuda:0'); the CPU for a job of baselines only.

    Baselines (no model) take milliseconds on the CPU, so they hold no device.
    """
    devices = {("cuda:0" if s.get("device") == "cuda" else s.get("device") or "cpu") for s in plan if s.get("model")}
    return devices or {"cpu"}


def this_host() -> str:
    return socket.gethostname()


def startable_jobs(queued: list[tuple[str, set[str]]], busy: list[set[str]], *, cpu_jobs: int) -> list[str]:
    """Which queued jobs (oldest first) can start: one job per GPU, up to `cpu_jobs` on the CPU.

    A job holds every device its plan uses. Later jobs may start ahead of a waiting one when
    their devices are free.
    """
    taken = [device for devices in busy for device in devices]
    started = []
    for run_id, devices in queued:
        cpu_free = "cpu" not in devices or taken.count("cpu") < cpu_jobs
        if cpu_free and not any(d in taken for d in devices if d != "cpu"):
            started.append(run_id)
            taken += devices
    return started

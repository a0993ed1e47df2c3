"""Where trials run, as the sidebar and History say it: this machine's worker, or a Ray cluster.

The worker asks the cluster (core.ray_trials) and writes what it found to a small file in the data
directory; pages read that file and never join the cluster themselves.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.settings import RAY_ADDRESS, Settings

#: Older than this, the sidebar says when the worker last looked.
STALE_AFTER_S = 30.0


@dataclass(frozen=True)
class ClusterStatus:
    """What the cluster had when the worker last looked; `error` when it could not be joined."""

    address: str
    nodes: int = 0
    cpus: float = 0.0
    gpus: float = 0.0
    cpus_free: float = 0.0
    gpus_free: float = 0.0
    error: str | None = None
    checked_at: float = field(default_factory=time.time)

    def sentence(self) -> str:
        if self.error:
            return self.error
        return (f"Trials run on the Ray cluster at {self.address}: {self.nodes} node(s), "
                f"{self.cpus_free:g} of {self.cpus:g} CPUs and {self.gpus_free:g} of {self.gpus:g} GPUs free.")


def status_path(settings: Settings) -> Path:
    return settings.data_dir / "cluster-status.json"


def write_status(settings: Settings, status: ClusterStatus) -> None:
    """Replace the status file in one step, so a page never reads half of it."""
    path = status_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(asdict(status)))
    partial.replace(path)


def read_status(settings: Settings) -> ClusterStatus | None:
    try:
        return ClusterStatus(**json.loads(status_path(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def trial_devices(settings: Settings, local: list[str]) -> list[str]:
    """Devices a run may ask for: this machine's, plus `cuda` when the Ray cluster last had GPUs."""
    status = read_status(settings) if settings.ray_address else None
    if status and not status.error and status.gpus > 0 and not any(d.startswith("cuda") for d in local):
        return [*local, "cuda"]
    return list(local)


def backend_sentence(settings: Settings, *, now: float | None = None) -> str:
    """One line for the sidebar: where the next trials will run, and what that place has free."""
    if not settings.ray_address:
        return f"Trials run on this machine (the local worker; set {RAY_ADDRESS} to use a Ray cluster)."
    status = read_status(settings)
    if status is None or status.address != settings.ray_address:
        return f"Trials run on the Ray cluster at {settings.ray_address}; its nodes show here once the worker has joined it."
    age = (now or time.time()) - status.checked_at
    return status.sentence() + (f" (as of {age:.0f} s ago)" if age > STALE_AFTER_S else "")

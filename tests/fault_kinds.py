"""Evaluation kinds that misbehave on purpose, loaded into worker children via MSD_PLUGINS.

The registry habit: a dummy kind is registered and runs through the same code as any other.
"""

from __future__ import annotations

import os
import resource
import signal
import time

from core.tasks import register_kind
from core.tasks.base import Predictions

ROW_SLEEP_S = float(os.environ.get("MSD_TEST_ROW_SLEEP_S", "0.02"))
#: test-gate: in the pass over every row, stops after the first row while this file exists.
GATE = "MSD_TEST_GATE"
#: When set, each trial writes a file named after its process id here once it starts running rows.
PID_DIR = "MSD_TEST_PID_DIR"


class _SlowPredictor:
    truncated_rows = 0
    notes: list[str] = []

    def __init__(self, sample, behaviour: str) -> None:
        self.sample, self.behaviour = sample, behaviour
        if os.environ.get(PID_DIR):
            with open(os.path.join(os.environ[PID_DIR], str(os.getpid())), "w") as mark:
                mark.write(behaviour)

    def run(self, texts, pairs, *, batch_size, on_rows=None):
        for index, _ in enumerate(texts):
            if self.behaviour == "raise":
                raise RuntimeError("this trial raises on purpose")
            if self.behaviour == "exit":
                os._exit(3)
            if self.behaviour == "oom":
                exhaust_memory()
            if self.behaviour == "killed":
                os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's out-of-memory killer does
            if self.behaviour == "gate" and index > 0 and len(texts) == len(self.sample):
                wait_for_gate()
            time.sleep(3600 if self.behaviour == "hang" else ROW_SLEEP_S)
            if on_rows:
                on_rows(1)
        return None

    def finish(self, outputs) -> Predictions:
        first = self.sample.labels[0]
        return Predictions([first] * len(self.sample), [1.0] * len(self.sample))


def exhaust_memory() -> None:
    """Cap this process's address space a little above its use, then ask for more than the cap."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    in_use = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (in_use + 256 * 2**20, hard))
    hoard = []
    try:
        while True:
            hoard.append(bytearray(64 * 2**20))
    except MemoryError:
        hoard.clear()  # leave room to report the error, as a model whose batch did not fit would
        raise


def wait_for_gate() -> None:
    gate = os.environ.get(GATE)
    while gate and os.path.exists(gate):
        time.sleep(0.05)


class FaultKind:
    head = None

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.name = f"test-{behaviour}"

    def prepare(self, loaded, sample, options):
        return _SlowPredictor(sample, self.behaviour)


for behaviour in ("sleep", "gate", "raise", "exit", "hang", "oom", "killed"):
    register_kind(FaultKind(behaviour))

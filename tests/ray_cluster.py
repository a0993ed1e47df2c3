"""A throwaway Ray head for the tests: `ray start --head --block` on 127.0.0.1 and a free port, in a
process group of its own, stopped by that group's id (never `ray stop`, which kills every Ray process
on the machine by name). Its session files live in a short temporary folder (Ray's socket paths must
stay short), removed at the end.

RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on loopback here: without it Ray advertises the
machine's external address. Every client (the test process, the workers it starts) sets it too.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.postgres import free_port

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
START_TIMEOUT_S = 120


def ray_command() -> str:
    return str(Path(sys.executable).with_name("ray"))


class RayNode:
    """One `ray start --head --block` process group. (No second node: with
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray refuses to let one join.)"""

    def __init__(self, *, cpus: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="msdray-", dir="/tmp"))
        self.port = free_port()
        self.args = [ray_command(), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={self.port}",
                     f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
                     "--object-store-memory=200000000", f"--temp-dir={self.folder}"]
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "RayNode":
        log = (self.folder / "node.log").open("w")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **LOOPBACK_ENV})
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.log()[-3000:]
                self.stop()
                raise RuntimeError(f"the Ray node did not start:\n{said}")
            time.sleep(0.2)
        return self

    def log(self) -> str:
        return (self.folder / "node.log").read_text(errors="replace")

    def group_pids(self) -> list[int]:
        """Every live process of this node's process group."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        found.append(int(entry.name))
                except ProcessLookupError:
                    pass
        return found

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(3)  # then by force: the session's files are thrown away anyway
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def listening_addresses(pids: list[int]) -> list[str]:
    """The local addresses (IP:port) the given processes listen on over TCP, read from /proc."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(decode_address(fields[1]))
    return found


def decode_address(hex_address: str) -> str:
    """/proc/net/tcp's little-endian hex address -> dotted IPv4 (IPv4-mapped IPv6 included) or IPv6 text."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 16 and words[:12] == b"\0" * 10 + b"\xff\xff":
        words = words[12:]
    text = ".".join(str(b) for b in words) if len(words) == 4 else ipaddress.IPv6Address(words).compressed
    return f"{text}:{int(port, 16)}"

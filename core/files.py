"""Files the commands are asked to write: the path checked before the work, each file replaced whole.

A results file is written last, after minutes of work, so a path that cannot be written (a folder,
a read-only place) is refused before anything runs; the file goes to a temporary name beside it,
reaches the disk, and is renamed over the target, so a full disk or a crash never leaves half a
file where the last good one was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.errors import InputError


def check_output_path(path: str | Path, option: str = "--out") -> Path:
    """`path` as a writable file path (its folder created), or an InputError saying why not."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder, not a file.", hint=f"Name a file in it, e.g. {option} {path / 'results.json'}.")
    existing = next(folder for folder in path.parents if folder.exists())
    if not existing.is_dir():
        raise InputError(f"{option} {path} cannot be written: {existing} is a file, not a folder.",
                         hint="Choose a path whose folders are folders.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".msd-write-check-"):
            pass
    except OSError as error:
        raise InputError(f"{option} {path} cannot be written: {error.strerror or error} ({path.parent}).",
                         hint="Choose a folder you can write to and that has free space.") from error
    return path


def write_atomically(path: str | Path, content: str | bytes) -> Path:
    """Write `content` to `path` whole or not at all (a temporary file beside it, synced, renamed)."""
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """The permissions the file had, or those a plain `open(path, 'w')` would give it."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask

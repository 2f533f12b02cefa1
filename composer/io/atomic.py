"""Atomic file writes: temp file in the same directory, fsync, rename.

A crash, a kill or a full disk mid-write leaves the old file intact; the
reader of ``path`` sees either the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from composer.errors import OutputFileError


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; raises OutputFileError on failure."""
    with atomic_open(path) as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_open(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, for writers that stream
    (``np.save``, ``torch.save``, large shards): on leaving the block it is
    flushed, fsynced and renamed over ``path``. If the block raises, or the
    disk fills, ``path`` keeps its old bytes and the temp file is removed.
    Raises OutputFileError for disk and permission problems.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputFileError(f"{path}: the folder {directory} does not exist")
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            # Keep the permissions the user gave the file they are replacing.
            os.chmod(tmp_name, path.stat().st_mode & 0o777)
        else:
            # mkstemp makes owner-only files; a new file gets what open() would give.
            os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_directory(directory)
    except OSError as err:
        raise output_error(path, err) from err
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def output_error(path: Path, err: OSError) -> OutputFileError:
    """The one-line error for an OSError met while writing ``path``."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT) or (err.errno is None and _disk_full(path)):
        # (numpy reports a short write without an errno: "N requested and M written".)
        return OutputFileError(f"{path}: the disk is full; nothing was changed",
                               "free some space and save again")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputFileError(f"{path}: permission denied; nothing was changed")
    return OutputFileError(f"{path}: cannot be written ({err.strerror or err})")


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _disk_full(path: Path) -> bool:
    try:
        info = os.statvfs(path.parent if str(path.parent) else ".")
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


def _umask() -> int:
    # os.umask() can only be read by setting it, which races with other threads;
    # Linux reports it in /proc instead.
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_directory(directory: Path) -> None:
    # The rename itself is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Low-level file handling of the audit log: locks and reading lines from the end.

Atomic writes and folder fsync are `factory_mlops.fileio` (the audit log uses them with
`strict=True`: a folder that cannot be fsynced is an error, never skipped).

POSIX only (`fcntl.flock`). Keep the log on a local disk: flock over network file systems is
emulated and not reliable everywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

_BLOCK = 64 * 1024


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` (created if missing): one writer at a time."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def shared_lock(lock_path: Path) -> Iterator[None]:
    """Hold a shared flock while reading, so the log and its head anchor are seen between appends.

    Best effort: when the lock file cannot be opened or created (read-only copy of the log,
    another user's folder) the read goes ahead unlocked; a folder that does not exist holds no log.
    """
    fd: int | None = None
    if lock_path.parent.is_dir():
        for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
            try:
                fd = os.open(lock_path, flags, 0o644)
                break
            except OSError:
                continue
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def ends_with_newline(fd: int, size: int) -> bool:
    """Whether the last byte of a non-empty file is a line end (else its last line is torn)."""
    return size > 0 and os.pread(fd, 1, size - 1) == b"\n"


def iter_lines_reverse(fd: int, end: int) -> Iterator[bytes]:
    """The lines of bytes [0, end) from the last to the first, split on b"\\n" only.

    Pass `end = size - 1` for a file that ends with a line end, so the final b"\\n" is not read
    as an empty last line. Reads blocks from the end: finding the last entry does not read the file.
    """
    pos = end
    rest = b""
    while pos > 0:
        start = max(0, pos - _BLOCK)
        parts = (os.pread(fd, pos - start, start) + rest).split(b"\n")
        pos = start
        rest = parts[0]
        yield from reversed(parts[1:])
    yield rest

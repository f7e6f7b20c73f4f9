"""Durable file writes and file hashing: the one implementation every package uses.

Standard library only, so the edge runtime and the bundle format use it without the control plane.

Atomic writes (`atomic_write_bytes`, `atomic_write_text`, `atomic_path`) write a temp file in the
target's own folder (`.<name>.<pid>-<uuid>.tmp`, so it is on the same file system and hidden),
flush and fsync it, `os.replace` it over the target and fsync the folder: a reader sees the old
content or the new one, never a torn file, and after the call returns the new content survives a
power cut. A failed write removes its temp file and leaves the target as it was. A target that
already exists keeps its permission bits; a new one gets `mode` (default 0o666, less the umask,
like `open`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

#: Mode of a newly created file before the umask (the same as `open(path, "w")`).
DEFAULT_MODE = 0o666
_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's content, read in 1 MiB chunks.

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: Path | str, *, strict: bool = False) -> None:
    """fsync a folder, so that a file created, renamed or removed in it survives a power cut.

    Args:
        path: the folder.
        strict: raise when the folder cannot be opened or synced; by default that is skipped (a
            platform or file system without directory fsync), the write itself already happened.

    Raises:
        OSError: only with `strict`.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex}.tmp")


def _create_temp(path: Path, mode: int) -> tuple[Path, int]:
    """A new, empty temp file next to `path` (open for writing) with `path`'s permission bits."""
    tmp = _temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return tmp, fd


def _commit(tmp: Path, path: Path, strict: bool) -> None:
    os.replace(tmp, path)
    fsync_dir(path.parent, strict=strict)


def atomic_write_bytes(
    path: Path | str, data: bytes, *, mode: int = DEFAULT_MODE, strict: bool = False
) -> None:
    """Replace `path` with `data` durably and all at once (see the module docstring).

    Args:
        path: the file to write; its folder must exist.
        data: the new content.
        mode: permission bits of a new file, before the umask (an existing file keeps its own).
        strict: raise if the folder cannot be fsynced after the rename (see `fsync_dir`).

    Raises:
        OSError: the file cannot be written; the target is unchanged and no temp file is left.
    """
    path = Path(path)
    tmp, fd = _create_temp(path, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit(tmp, path, strict)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(
    path: Path | str,
    text: str,
    *,
    encoding: str = "utf-8",
    mode: int = DEFAULT_MODE,
    strict: bool = False,
) -> None:
    """`atomic_write_bytes(path, text.encode(encoding))` (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode, strict=strict)


@contextlib.contextmanager
def atomic_path(
    path: Path | str, *, mode: int = DEFAULT_MODE, strict: bool = False
) -> Iterator[Path]:
    """Yield a temp path to write `path`'s new content to; on success it replaces `path` durably.

    For writers that take a path (`DataFrame.to_parquet(tmp)`) or open the file themselves. The
    temp file exists (empty, with the target's permission bits) when the block starts; when the
    block ends it is fsynced, renamed over `path` and the folder is fsynced. If the block raises,
    the temp file is removed and `path` is left as it was.

    Args:
        path: the file to write; its folder must exist.
        mode: permission bits of a new file, before the umask (an existing file keeps its own).
        strict: raise if the folder cannot be fsynced after the rename (see `fsync_dir`).
    """
    path = Path(path)
    tmp, fd = _create_temp(path, mode)
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit(tmp, path, strict)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

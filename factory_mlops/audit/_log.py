"""`AuditLog`: an append-only, hash-chained JSON Lines file with a head anchor.

Files (for `AuditLog.for_home(home)`, under `<home>/audit/`)::

    audit.jsonl        one entry per line, each linked to the one before by `prev_hash`
    audit.head.json    {"entries": N, "last_hash": ...} rewritten atomically after each append
    audit.jsonl.lock   flock target: appends are exclusive, reads shared

Appends from several processes (or threads) are serialised by the lock; each writes its line with
one `os.write` on an O_APPEND descriptor and fsyncs before the anchor moves.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Collection, Generator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_mlops.audit._entry import (
    GENESIS_HASH,
    KINDS,
    AuditEntry,
    build_entry,
    encode_line,
    utc_now,
)
from factory_mlops.audit._errors import AuditError
from factory_mlops.audit._files import (
    ends_with_newline,
    exclusive_lock,
    iter_lines_reverse,
    shared_lock,
)
from factory_mlops.audit._head import Head, read_head, write_head
from factory_mlops.audit._verify import AuditVerification, parse_line, verify_log
from factory_mlops.fileio import fsync_dir

if TYPE_CHECKING:
    from factory_mlops.home import FactoryHome

_VERIFY_HINT = "run `factory-mlops audit verify` to see what is wrong"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AuditLog:
    """The audit log stored at `path` (a JSON Lines file; a missing file is an empty log)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def for_home(cls, home: FactoryHome) -> AuditLog:
        """The plant-wide log of a factory home: `<home>/audit/audit.jsonl`."""
        return cls(home.root / "audit" / "audit.jsonl")

    @property
    def head_path(self) -> Path:
        """The head anchor next to the log: `audit.jsonl` -> `audit.head.json`."""
        return self.path.with_name(f"{self.path.stem}.head.json")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.lock")

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # -- writing -----------------------------------------------------------------------------

    def append(
        self,
        kind: str,
        *,
        actor: str,
        plant: str | None = None,
        reason: str = "",
        versions: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Record one event and return the entry as written (durable when this returns).

        Refuses with `AuditError`, writing nothing, when the arguments are invalid, when the last
        line of the log is not a complete valid entry, or when the log and its head anchor disagree
        (deleted log, missing anchor, deleted tail, interrupted append): a broken chain is never
        silently continued.
        """
        build_entry(  # validate before touching the disk (the real entry is built under the lock)
            seq=1,
            prev_hash=GENESIS_HASH,
            at=utc_now(),
            kind=kind,
            actor=actor,
            plant=plant,
            reason=reason,
            versions=versions,
            details=details,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.lock_path):
            try:
                fd: int | None = os.open(self.path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                fd = None
            try:
                size = os.fstat(fd).st_size if fd is not None else 0
                tail = self._tail_for_append(fd, size) if fd is not None else None
                self._check_head_matches(tail)
                entry = build_entry(
                    seq=tail.seq + 1 if tail else 1,
                    prev_hash=tail.hash if tail else GENESIS_HASH,
                    at=utc_now(),
                    kind=kind,
                    actor=actor,
                    plant=plant,
                    reason=reason,
                    versions=versions,
                    details=details,
                )
                created = fd is None
                if fd is None:
                    fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
                self._write_line(fd, encode_line(entry), size)
            finally:
                if fd is not None:
                    os.close(fd)
            try:
                if created:
                    fsync_dir(self.path.parent, strict=True)
                write_head(self.head_path, Head(entry.seq, entry.hash))
            except OSError as exc:
                raise AuditError(
                    f"entry {entry.seq} was written to {self.path} but its head anchor could not be "
                    f"updated ({exc}); appends will refuse until this is resolved, {_VERIFY_HINT}"
                ) from exc
        return entry

    def _tail_for_append(self, fd: int, size: int) -> AuditEntry | None:
        """The last entry, read from the end of the file; `AuditError` if it is not complete and valid."""
        if size == 0:
            return None
        refuse = f"cannot append to {self.path}: its last line is not a complete, valid audit entry"
        if not ends_with_newline(fd, size):
            raise AuditError(f"{refuse} (no line end: an interrupted write?); {_VERIFY_HINT}")
        raw = next(iter_lines_reverse(fd, size - 1)) + b"\n"
        try:
            entry = parse_line(raw, line="last line", entry="last entry")
        except AuditError as exc:
            raise AuditError(f"{refuse} ({exc}); {_VERIFY_HINT}") from None
        if entry.computed_hash() != entry.hash:
            raise AuditError(f"{refuse} (its hash does not match its content); {_VERIFY_HINT}")
        return entry

    def _check_head_matches(self, tail: AuditEntry | None) -> None:
        """Refuse to append when the head anchor does not describe the log's current end."""
        try:
            head = read_head(self.head_path)
        except AuditError as exc:
            raise AuditError(f"cannot append to {self.path}: {exc}; {_VERIFY_HINT}") from None
        if tail is None:
            if head is not None and head.entries > 0:
                raise AuditError(
                    f"cannot append to {self.path}: the log is missing or empty but its head anchor "
                    f"records {head.entries} entries (was the log deleted?); {_VERIFY_HINT}"
                )
            return
        if head is None:
            raise AuditError(
                f"cannot append to {self.path}: the log has entries but its head anchor "
                f"{self.head_path.name} is missing; {_VERIFY_HINT}"
            )
        if (head.entries, head.last_hash) != (tail.seq, tail.hash):
            raise AuditError(
                f"cannot append to {self.path}: its last entry (seq {tail.seq}) does not match the head "
                f"anchor ({head.entries} entries, last hash {head.last_hash[:12]}…); {_VERIFY_HINT}"
            )

    def _write_line(self, fd: int, line: bytes, size_before: int) -> None:
        """One `os.write` + fsync; on any failure cut the file back so no torn line is left."""
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write: {written} of {len(line)} bytes (disk full?)")
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size_before)
            raise AuditError(
                f"could not write to {self.path} ({exc}); nothing was recorded"
            ) from exc

    # -- checking ----------------------------------------------------------------------------

    def verify(self, *, anchor: str | None = None) -> AuditVerification:
        """Check every entry, the chain and the head anchor; report the earliest problem.

        `anchor`: optionally a `last_hash` kept outside the plant earlier; it must still be the
        hash of one of the entries. Never raises for a damaged log (that is the answer).
        """
        if anchor is not None:
            anchor = anchor.strip().lower()
            if not _HEX64.match(anchor):
                raise AuditError(
                    f"anchor must be a sha256 hex digest (64 hex digits), got {anchor!r}"
                )
        with shared_lock(self.lock_path):
            return verify_log(self.path, self.head_path, anchor=anchor)

    # -- reading -----------------------------------------------------------------------------

    def entries(
        self, *, plant: str | None = None, kinds: Collection[str] | str | None = None
    ) -> list[AuditEntry]:
        """The entries in file order, optionally only those of one plant and/or some kinds.

        Structure is checked (a line that is not an entry raises `AuditError` pointing at
        `audit verify`, nothing is skipped); hashes are not: integrity is what `verify()` proves.
        """
        wanted = _kinds(kinds)
        with shared_lock(self.lock_path):
            return [e for e in self._iter_forward() if _matches(e, plant, wanted)]

    def last(
        self, plant: str | None = None, kinds: Collection[str] | str | None = None
    ) -> AuditEntry | None:
        """The most recent entry (of `plant` / `kinds` if given), read from the end of the file."""
        wanted = _kinds(kinds)
        with shared_lock(self.lock_path), contextlib.closing(self._iter_backward()) as backward:
            for entry in backward:
                if _matches(entry, plant, wanted):
                    return entry
        return None

    def _iter_forward(self) -> Iterator[AuditEntry]:
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return
        with fh:
            for pos, raw in enumerate(fh, start=1):
                yield self._parse_or_refuse(raw, line=f"line {pos}", entry=f"entry {pos}")

    def _iter_backward(self) -> Generator[AuditEntry, None, None]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return
            if not ends_with_newline(fd, size):
                raise AuditError(
                    f"{self.path}: its last line is incomplete (no line end); {_VERIFY_HINT}"
                )
            for back, raw in enumerate(iter_lines_reverse(fd, size - 1), start=1):
                where = f"{back} from the end"
                yield self._parse_or_refuse(
                    raw + b"\n", line=f"line {where}", entry=f"entry {where}"
                )
        finally:
            os.close(fd)

    def _parse_or_refuse(self, raw: bytes, *, line: str, entry: str) -> AuditEntry:
        try:
            return parse_line(raw, line=line, entry=entry)
        except AuditError as exc:
            raise AuditError(f"{self.path}: {exc}; {_VERIFY_HINT}") from None


def _kinds(kinds: Collection[str] | str | None) -> frozenset[str] | None:
    """The kinds to keep (None = all); a single string is one kind; unknown kinds are refused."""
    if kinds is None:
        return None
    wanted = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise AuditError(
            f"unknown audit kind(s) {', '.join(unknown)}; known kinds: {', '.join(KINDS)}"
        )
    return wanted


def _matches(entry: AuditEntry, plant: str | None, kinds: frozenset[str] | None) -> bool:
    return (plant is None or entry.plant == plant) and (kinds is None or entry.kind in kinds)

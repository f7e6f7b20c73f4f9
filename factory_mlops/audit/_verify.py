"""Checking a whole log: every line parses, every hash matches, the chain links, the anchor agrees.

`verify_log` reads the file once, front to back, and reports the earliest problem it can place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory_mlops.audit._entry import GENESIS_HASH, AuditEntry
from factory_mlops.audit._errors import AuditError
from factory_mlops.audit._head import Head, read_head


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of `AuditLog.verify()`.

    `entries` is the number of lines in the log file. `first_bad` is the 1-based position (= line
    number) of the first entry that is wrong; for entries deleted from the end it is the position
    right after the last good entry; None when the log is fine or the problem is not at one entry
    (head anchor missing or unreadable, external anchor not found). `last_hash` is the hash of the
    last entry known good: the whole log's head when `ok`; copy it somewhere outside the plant's
    reach to anchor the log externally.
    """

    ok: bool
    entries: int
    first_bad: int | None
    problem: str | None
    last_hash: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "problem": self.problem,
            "last_hash": self.last_hash,
        }


def parse_line(raw: bytes, *, line: str, entry: str) -> AuditEntry:
    """One stored line (with its b"\\n") as an entry, or an `AuditError` saying what is wrong there.

    `line` / `entry` name the place in messages, e.g. "line 3" / "entry 3". Does not check hashes.
    """
    if not raw.endswith(b"\n"):
        raise AuditError(
            f"{line} is incomplete: it has no line end (an interrupted write, or a hand edit)"
        )
    body = raw[:-1]
    if not body.strip():
        raise AuditError(f"{line} is empty")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AuditError(f"{line} is not valid JSON") from None
    if not isinstance(data, dict):
        raise AuditError(f"{line} is not a JSON object")
    try:
        return AuditEntry.from_dict(data)
    except AuditError as exc:
        raise AuditError(f"{entry}: {exc}") from None


def _check_entry(entry: AuditEntry, pos: int, prev_hash: str) -> str | None:
    """What is wrong with a parsed entry at 1-based `pos` after an entry hashed `prev_hash`."""
    if entry.computed_hash() != entry.hash:
        return f"entry {pos}: hash does not match its content (edited after it was written)"
    if entry.seq != pos:
        if entry.seq > pos:
            missing = entry.seq - pos
            why = f"{missing} entr{'y' if missing == 1 else 'ies'} missing before it: deleted, or entries moved"
        else:
            why = "an entry was inserted before it, or entries were moved"
        return f"entry {pos}: seq {entry.seq} where {pos} was expected ({why})"
    if entry.prev_hash != prev_hash:
        if pos == 1:
            return f"entry 1: prev_hash is not the genesis value {GENESIS_HASH[:8]}… (the log does not start here)"
        return (
            f"entry {pos}: prev_hash does not match entry {pos - 1} (entry {pos - 1} was rewritten, "
            f"or an entry was deleted, inserted or moved before this one)"
        )
    return None


def _head_problem(
    head: Head, lines: int, good: int, hashes: dict[int, str], log_exists: bool
) -> tuple[int, str, str | None] | None:
    """Where and how the anchor disagrees with a log of `lines` lines whose first `good` are sound.

    Returns (position, problem, hash of the last good entry before that position) or None.
    `hashes` maps positions to hashes; it holds at least head.entries - 1, head.entries and `good`.
    """
    h = head.entries
    if not log_exists and h > 0:
        return (
            1,
            f"log file is missing but the head anchor records {h} entries (the log was deleted)",
            None,
        )
    if h > lines:
        problem = f"log has {lines} entries but the head anchor records {h} (entries deleted from the end)"
        return lines + 1, problem, hashes.get(lines)
    if h > good:
        return None  # the chain breaks at or before the anchored entry; that problem comes first
    if h > 0 and hashes[h] != head.last_hash:
        problem = (
            f"entry {h} does not match the head anchor's last_hash (entry {h} was rewritten, "
            f"or the anchor was edited)"
        )
        return h, problem, hashes.get(h - 1)
    if h < lines:
        problem = (
            f"log has {lines} entries but the head anchor records {h} (entries after {h} were added "
            f"without updating the anchor: an append interrupted by a crash, or entries written by hand)"
        )
        return h + 1, problem, hashes.get(h)
    return None


def verify_log(path: Path, head_path: Path, *, anchor: str | None = None) -> AuditVerification:
    """Check the log at `path` against itself, its head anchor, and optionally an external hash.

    `anchor`, when given, is a `last_hash` copied out of the plant earlier: it must be the hash of
    some entry of the log (the log may have grown since, but what was anchored must be unchanged).
    """
    head_error: str | None = None
    try:
        head = read_head(head_path)
    except AuditError as exc:
        head, head_error = None, str(exc)
    keep = {head.entries - 1, head.entries} if head is not None else set()
    hashes: dict[int, str] = {}
    chain: tuple[int, str] | None = None
    prev, lines, good, anchor_found = GENESIS_HASH, 0, 0, False
    log_exists = path.exists()
    if log_exists:
        with path.open("rb") as fh:
            for lines, raw in enumerate(fh, start=1):
                if chain is not None:
                    continue  # only count the remaining lines
                try:
                    entry = parse_line(raw, line=f"line {lines}", entry=f"entry {lines}")
                    problem = _check_entry(entry, lines, prev)
                except AuditError as exc:
                    problem = str(exc)
                if problem is not None:
                    chain = (lines, problem)
                    continue
                good, prev = lines, entry.hash
                if lines in keep:
                    hashes[lines] = entry.hash
                anchor_found = anchor_found or entry.hash == anchor
    last_good = prev if good else None
    if good:
        hashes[good] = prev
    # Problems placed at an entry: the earliest wins; at the same position the chain's own
    # explanation beats the anchor's.
    placed: list[tuple[int, int, str, str | None]] = []
    if chain is not None:
        placed.append((chain[0], 0, chain[1], last_good))
    if head is not None:
        found = _head_problem(head, lines, good, hashes, log_exists)
        if found is not None:
            placed.append((found[0], 1, found[1], found[2]))
    if placed:
        pos, _, problem, last_hash = min(placed, key=lambda p: (p[0], p[1]))
        return AuditVerification(False, lines, pos, problem, last_hash)
    if head_error is not None:
        return AuditVerification(False, lines, None, head_error, last_good)
    if head is None and lines:
        problem = (
            f"log has {lines} entries but the head anchor {head_path.name} is missing "
            f"(deleted, or the log was copied without it)"
        )
        return AuditVerification(False, lines, None, problem, last_good)
    if anchor is not None and not anchor_found:
        problem = (
            f"the external anchor {anchor} is not the hash of any entry (the log was rewritten at or "
            f"before the anchored entry, or the anchor belongs to another log)"
        )
        return AuditVerification(False, lines, None, problem, last_good)
    return AuditVerification(True, lines, None, None, last_good)

"""The head anchor: `audit.head.json` = {"entries": N, "last_hash": ...}, rewritten after each append.

A hash chain alone cannot tell that its last entries were deleted (what is left is still a valid
chain). The anchor records how long the log was and how it ended, so `verify` can.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from factory_mlops.audit._errors import AuditError
from factory_mlops.fileio import atomic_write_bytes

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Head:
    """What the anchor records: the number of entries and the hash of the last one."""

    entries: int
    last_hash: str

    def to_dict(self) -> dict[str, int | str]:
        return {"entries": self.entries, "last_hash": self.last_hash}


def read_head(path: Path) -> Head | None:
    """The anchor at `path`; None when there is none; `AuditError` when it cannot be read as one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditError(f"head anchor {path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) != {"entries", "last_hash"}:
        raise AuditError(
            f'head anchor {path.name} is not of the form {{"entries": N, "last_hash": "..."}}'
        )
    entries, last_hash = data["entries"], data["last_hash"]
    if not isinstance(entries, int) or isinstance(entries, bool) or entries < 0:
        raise AuditError(
            f"head anchor {path.name}: entries must be an integer >= 0, got {entries!r}"
        )
    if not isinstance(last_hash, str) or not _HEX64.match(last_hash):
        raise AuditError(f"head anchor {path.name}: last_hash must be 64 lowercase hex digits")
    return Head(entries, last_hash)


def write_head(path: Path, head: Head) -> None:
    """Atomically replace the anchor (a reader sees the old or the new one, never half of one)."""
    data = (json.dumps(head.to_dict()) + "\n").encode("utf-8")
    atomic_write_bytes(path, data, mode=0o644, strict=True)

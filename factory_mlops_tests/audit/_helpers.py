"""Building small audit logs and tampering with them the way a person with a text editor would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from factory_mlops.audit import AuditEntry, AuditLog

PLANTS = ("plant_a", "plant_b")


def make_log(path: Path, n: int = 10) -> tuple[AuditLog, list[AuditEntry]]:
    """A log of `n` entries alternating plants and a few kinds."""
    log = AuditLog(path)
    kinds = ("retrain_requested", "gate_decision", "registration", "promotion", "deployment")
    written = [
        log.append(
            kinds[i % len(kinds)],
            actor="system:pipeline" if i % 3 else "person:j.doe",
            plant=PLANTS[i % 2],
            reason=f"event {i + 1}",
            versions={"version": i + 1},
            details={"i": i, "auc": 0.5 + i / 100},
        )
        for i in range(n)
    ]
    return log, written


def read_lines(path: Path) -> list[bytes]:
    """The log's lines, each with its b"\\n"."""
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def line_of(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")


def rehash(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its hash recomputed the way a careful forger would (independently of the library)."""
    body = {k: v for k, v in data.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**body, "hash": hashlib.sha256(canonical.encode("utf-8")).hexdigest()}


def edit_entry(path: Path, position: int, *, recompute_hash: bool = False, **changes: Any) -> None:
    """Change fields of the entry at 1-based `position` in place."""
    lines = read_lines(path)
    data = json.loads(lines[position - 1])
    data.update(changes)
    lines[position - 1] = line_of(rehash(data) if recompute_hash else data)
    write_lines(path, lines)

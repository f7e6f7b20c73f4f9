"""One audit entry: its fields, validation, canonical JSON and hash.

An entry's `hash` is the sha256 (hex) of the canonical JSON of every other field, and `prev_hash`
is the hash of the entry before it (`GENESIS_HASH` for the first). Editing any field of any entry
therefore changes a hash that the next entry (or the head anchor) has recorded.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from factory_mlops.audit._errors import AuditError

KINDS: tuple[str, ...] = (
    "retrain_requested",
    "gate_decision",
    "registration",
    "promotion",
    "deployment",
    "rollback",
    "reproduce",
    "contract_change",
    "feedback",
    "template_change",
)
"""Every kind of event `AuditLog.append` accepts."""

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry of a log."""

ACTOR_PREFIXES: tuple[str, ...] = ("person:", "sensor:", "schedule:", "system:")
"""The actor convention (documented, not enforced): who or what caused the event."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> str:
    """The one JSON text a value hashes as: sorted keys, no spaces, UTF-8 kept, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def content_hash(content: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of an entry's fields, `hash` itself excluded."""
    body = {key: value for key, value in content.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def utc_now() -> str:
    """Now as ISO-8601 UTC with microseconds, e.g. `2026-11-22T10:01:02.123456+00:00`."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log.

    `seq` is the entry's 1-based position in the log (= its line number). `versions` and `details`
    are plain dicts; treat them as read-only (`to_dict()` returns copies).
    """

    seq: int
    at: str
    kind: str
    actor: str
    plant: str | None
    versions: dict[str, int | None]
    reason: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def __hash__(self) -> int:
        return hash(self.hash)

    def content(self) -> dict[str, Any]:
        """Every field except `hash`: what the hash covers (a deep copy)."""
        return {
            f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "hash"
        }

    def to_dict(self) -> dict[str, Any]:
        """Every field, in declaration order (a deep copy; JSON-able)."""
        return {**self.content(), "hash": self.hash}

    def computed_hash(self) -> str:
        """The hash this entry's content has now; equals `hash` unless the entry was altered."""
        return content_hash(self.content())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        """Check the shape and types of a stored entry and build it. Does not check the hash.

        The kind is not checked against `KINDS`, so a log written by a newer version still reads.
        """
        if not isinstance(data, Mapping):
            raise AuditError(f"an entry must be a JSON object, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        extra = sorted(str(k) for k in data if k not in names)
        if missing:
            raise AuditError(f"missing field(s) {', '.join(missing)}")
        if extra:
            raise AuditError(f"unexpected field(s) {', '.join(extra)}")
        seq = data["seq"]
        if not _is_int(seq) or seq < 1:
            raise AuditError(f"seq must be an integer >= 1, got {seq!r}")
        _check_timestamp(data["at"])
        for name in ("kind", "actor"):
            if not isinstance(data[name], str) or not data[name].strip():
                raise AuditError(f"{name} must be a non-empty string, got {data[name]!r}")
        plant = data["plant"]
        if plant is not None and not isinstance(plant, str):
            raise AuditError(f"plant must be a string or null, got {plant!r}")
        if not isinstance(data["reason"], str):
            raise AuditError(f"reason must be a string, got {data['reason']!r}")
        if not isinstance(data["details"], dict):
            raise AuditError(f"details must be a JSON object, got {data['details']!r}")
        for name in ("prev_hash", "hash"):
            if not isinstance(data[name], str) or not _HEX64.match(data[name]):
                raise AuditError(f"{name} must be 64 lowercase hex digits, got {data[name]!r}")
        return cls(
            seq=seq,
            at=data["at"],
            kind=data["kind"],
            actor=data["actor"],
            plant=plant,
            versions=_check_versions(data["versions"]),
            reason=data["reason"],
            details=dict(data["details"]),
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )


def build_entry(
    *,
    seq: int,
    prev_hash: str,
    at: str,
    kind: str,
    actor: str,
    plant: str | None,
    reason: str,
    versions: Mapping[str, Any] | None,
    details: Mapping[str, Any] | None,
) -> AuditEntry:
    """Validate what a caller wants recorded and build the hashed entry (nothing is written).

    Raises `AuditError` for an unknown kind, an empty actor, a bad plant/reason/versions value, or
    details that are not JSON (numpy scalars are converted to Python numbers; see `to_json_value`).
    """
    if kind not in KINDS:
        raise AuditError(f"unknown audit kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if not isinstance(actor, str) or not actor.strip():
        raise AuditError(
            f"actor must be a non-empty string such as 'person:<name>', 'sensor:<sensor name>', "
            f"'schedule:<name>' or 'system:<component>'; got {actor!r}"
        )
    if plant is not None and (not isinstance(plant, str) or not plant.strip()):
        raise AuditError(f"plant must be a non-empty string or None, got {plant!r}")
    if not isinstance(reason, str):
        raise AuditError(f"reason must be a string, got {type(reason).__name__} {reason!r}")
    if details is not None and not isinstance(details, Mapping):
        raise AuditError(f"details must be a dict, got {type(details).__name__}")
    content = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "actor": actor,
        "plant": plant,
        "versions": _check_versions(versions or {}),
        "reason": reason,
        "details": to_json_value(details or {}, "details"),
        "prev_hash": prev_hash,
    }
    return AuditEntry(**content, hash=content_hash(content))


def encode_line(entry: AuditEntry) -> bytes:
    """The entry as one UTF-8 JSON line, fields in declaration order (readable; hashing sorts keys)."""
    text = json.dumps(entry.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def to_json_value(value: Any, where: str) -> Any:
    """`value` as plain JSON data (dict/list/str/int/float/bool/None), or an `AuditError` naming `where`.

    Tuples become lists; numpy scalars (np.int64, np.bool_, ...) become the Python number they hold.
    Dict keys must be strings; NaN/infinity, sets, dates, arrays and other objects are refused,
    so what is hashed is exactly what a reader gets back.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError(
                f"{where} is {value!r}; NaN and infinity are not JSON (record a string or None)"
            )
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError(
                    f"{where} has the key {key!r} ({type(key).__name__}); JSON keys must be strings"
                )
            out[str(key)] = to_json_value(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if _is_numpy_scalar(value):
        return to_json_value(value.item(), where)
    hint = " (use .tolist())" if type(value).__module__.split(".")[0] == "numpy" else ""
    raise AuditError(
        f"{where} is a {type(value).__qualname__}, which is not JSON-serialisable{hint}; "
        f"convert it first (str(), float(), .isoformat(), ...)"
    )


def _is_numpy_scalar(value: Any) -> bool:
    """A numpy scalar or 0-d array, recognised without importing numpy."""
    return (
        type(value).__module__.split(".")[0] == "numpy"
        and getattr(value, "ndim", None) == 0
        and callable(getattr(value, "item", None))
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_versions(versions: Any) -> dict[str, int | None]:
    """`versions` as {name: int or None}; integer-like values (numpy ints) become int."""
    if not isinstance(versions, Mapping):
        raise AuditError(f"versions must be a dict of name -> int or None, got {versions!r}")
    out: dict[str, int | None] = {}
    for key, value in versions.items():
        if not isinstance(key, str) or not key:
            raise AuditError(f"versions keys must be non-empty strings, got {key!r}")
        if value is None:
            out[key] = None
            continue
        if _is_numpy_scalar(value):
            value = value.item()
        if isinstance(value, bool):
            raise AuditError(f"versions[{key!r}] must be an int or None, got {value!r}")
        try:
            out[key] = operator.index(value)
        except TypeError:
            raise AuditError(f"versions[{key!r}] must be an int or None, got {value!r}") from None
    return out


def _check_timestamp(at: Any) -> None:
    if not isinstance(at, str):
        raise AuditError(f"at must be an ISO-8601 string, got {at!r}")
    try:
        parsed = dt.datetime.fromisoformat(at)
    except ValueError:
        raise AuditError(f"at is not an ISO-8601 timestamp: {at!r}") from None
    if parsed.tzinfo is None:
        raise AuditError(f"at has no UTC offset: {at!r}")

"""What a trigger sees: one monitoring result (a signal) with its severity and evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

Severity = Literal["ok", "warning", "critical"]

#: Signal kinds, most specific first: when several ask for a retrain at once, the first names the run.
KINDS = (
    "control_chart",
    "new_failure_type",
    "feedback",
    "performance",
    "drift",
    "integrity",
    "retrain_value",
    "schedule",
)

#: Kinds that describe a state (drift of today) rather than an event; they are debounced.
STATE_KINDS = frozenset({"drift", "performance", "integrity"})


@dataclass(frozen=True)
class Signal:
    """One piece of monitoring evidence for a plant.

    Attributes:
        kind: one of `KINDS`.
        severity: `ok`, `warning` or `critical` as the monitoring layer graded it.
        at: data time the evidence runs up to (the end of the day evaluated, the newest label, ...).
            Cooldowns count in data time, so replays and live runs follow the same rule.
        reason: the evidence in words; it becomes the run's reason, the model card's and the audit log's.
        key: identity of the evidence (`2026-07-01`, a storage id, a feedback id): a signal seen twice
            is acted on once, and the retrain run's `run_key` is built from it.
        details: numbers behind the reason (pending labels, new failure types, PSI, ...).
    """

    kind: str
    severity: Severity
    at: pd.Timestamp
    reason: str
    key: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown signal kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.severity not in ("ok", "warning", "critical"):
            raise ValueError(
                f"signal {self.kind}: severity {self.severity!r} is not ok, warning or critical"
            )
        at = pd.Timestamp(self.at)
        object.__setattr__(
            self, "at", at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "key": self.key,
            "details": self.details,
        }

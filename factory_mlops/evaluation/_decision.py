"""The gate's verdict as data: one `GateCheck` per rule, JSON for the registry, Markdown for the card."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GateCheck:
    """One rule of the gate applied to champion and challenger.

    `name` is the metric checked (`pr_auc`, `rmse`, `failure_recall`, `alarm_rate`,
    `slice:<machine type>:<metric>`, or `floor:<metric>` for an absolute floor); `limit` the rule
    in words (">= +0.020", "drop <= 0.05");
    `passed` is None when the check only informs (no champion, too few failures in a slice, an
    undefined metric) and then does not block a promotion; `reason` says why, in one sentence.
    """

    name: str
    champion: float | None
    challenger: float | None
    limit: str
    passed: bool | None
    reason: str


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and every check behind it (recorded in the registry and the model card).

    `reasons` repeats the checks' reasons in order; `challenger_slices` and `champion_slices`
    are the per machine-type metrics the slice checks read. `floors` are the absolute floors of
    the challenger alone (`name` `floor:<metric>`, `champion` None); one failed floor rejects,
    with or without a champion. `summary` joins the failed floors, the checks' reasons and the
    remaining floors, in that order.
    """

    promote: bool
    reasons: list[str] = field(default_factory=list)
    challenger: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float] | None = None
    checks: list[GateCheck] = field(default_factory=list)
    challenger_slices: dict[str, dict[str, float]] = field(default_factory=dict)
    champion_slices: dict[str, dict[str, float]] = field(default_factory=dict)
    floors: list[GateCheck] = field(default_factory=list)

    @property
    def summary(self) -> str:
        below = [f.reason for f in self.floor_failures]
        rest = [f.reason for f in self.floors if f.passed is not False]
        parts = ([f"below the floors: {'; '.join(below)}"] if below else []) + self.reasons
        if rest:
            parts.append(f"floors: {', '.join(rest)}")
        return ("PROMOTE: " if self.promote else "REJECT: ") + "; ".join(parts)

    @property
    def failed(self) -> list[GateCheck]:
        """The checks that block the promotion: failed floors first, then failed comparisons."""
        return self.floor_failures + [c for c in self.checks if c.passed is False]

    @property
    def floor_failures(self) -> list[GateCheck]:
        """The absolute floors the challenger fails (empty: it clears every floor)."""
        return [f for f in self.floors if f.passed is False]

    @property
    def floors_text(self) -> str:
        """The failed floors in plain words ("alarm rate 0.966 > max 0.50 (...); ..."), "" if none failed."""
        return "; ".join(f.reason for f in self.floor_failures)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: NaN and infinite metrics become None (JSON has no NaN)."""
        return _json_safe(asdict(self))

    def markdown(self) -> str:
        """The decision as Markdown: verdict, a table (check | champion | challenger | rule |
        result; the floors first) and the reasons, for the model card."""
        lines = [
            f"**Gate: {'PROMOTE' if self.promote else 'REJECT'}**",
            "",
            "| check | champion | challenger | rule | result |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in [*self.floors, *self.checks]:
            cells = [c.name, _fmt(c.champion), _fmt(c.challenger), c.limit, _RESULT[c.passed]]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        lines.append("")
        if self.floor_failures:
            lines += [f"Below the absolute floors (never promoted): {self.floors_text}.", ""]
        lines += [f"- `{c.name}`: {c.reason}" for c in [*self.floors, *self.checks]]
        return "\n".join(lines) + "\n"


_RESULT: dict[bool | None, str] = {True: "pass", False: "**FAIL**", None: "info"}


def _fmt(v: float | None) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None and numbers as plain floats/ints."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    try:
        f = float(obj)
    except (TypeError, ValueError):
        return str(obj)
    return f if math.isfinite(f) else None

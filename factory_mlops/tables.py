"""What the Dagster metadata shows, as plain data: tables with typed columns and rounded figures.

The orchestration turns a `Table` into Dagster's `MetadataValue.table` with a `TableSchema`
(sortable, not cut off on the right as a wide Markdown string is); the library decides the rows,
the column types and the rounding, so the same tables could feed another UI.

* `rounded`: a figure to 4 significant digits (integers in full); NaN/inf become None, shown
  empty, never as 0.
* `comparison_table`: challenger vs champion on the same holdout, one row per metric.
* `gate_table`: the gate's checks (floors first): champion, challenger, rule, result, reason.
* `slices_table`: per machine type figures of one model.
* `psi_table`: the features of a drift report, the drifted ones first: PSI, threshold, drifted.
* `fleet_table`: the edge nodes, their versions and health.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ColumnType = Literal["string", "int", "float", "bool"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str = ""


@dataclass(frozen=True)
class Table:
    """Rows of typed columns; a row maps column names to values (None = no value)."""

    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]

    def __post_init__(self) -> None:
        names = {c.name for c in self.columns}
        for i, row in enumerate(self.rows):
            extra = sorted(set(row) - names)
            if extra:
                raise ValueError(f"row {i} has column(s) {extra} the table does not declare")


def rounded(value: float | None, digits: int = 4) -> float | None:
    """`value` to `digits` significant digits (never fewer than its integer part); None if undefined."""
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        return None
    if v == 0:
        return 0.0
    places = digits - 1 - math.floor(math.log10(abs(v)))
    return float(round(v, max(places, 0)))


#: Metrics in the order a reader scans them; others follow alphabetically.
_METRIC_ORDER = (
    "pr_auc",
    "roc_auc",
    "rmse",
    "mae",
    "recall",
    "precision",
    "alarm_rate",
    "failures",
    "failures_caught",
    "failures_missed",
    "false_alarms",
    "median_lead_time_h",
    "expected_cost",
)


def _metric_order(names: Sequence[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(_METRIC_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def comparison_table(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    champion_version: int | None,
) -> Table:
    """Challenger vs champion on the same holdout: metric, challenger, champion, change."""
    champ = champion or {}
    label = f"champion v{champion_version}" if champion_version else "champion"
    columns = (
        Column("metric", "string"),
        Column("challenger", "float"),
        Column(label, "float", "empty: no champion yet" if not champion else ""),
        Column("change", "float", "challenger − champion"),
    )
    rows = []
    for name in _metric_order(sorted(set(challenger) | set(champ))):
        a, b = rounded(challenger.get(name)), rounded(champ.get(name))
        rows.append(
            {
                "metric": name,
                "challenger": a,
                label: b,
                "change": rounded(challenger[name] - champ[name])
                if a is not None and b is not None
                else None,
            }
        )
    return Table(columns, tuple(rows))


def gate_table(checks: Sequence[Any]) -> Table:
    """The gate's checks (`evaluation.GateCheck`s, floors first): one row each."""
    columns = (
        Column("check", "string"),
        Column("champion", "float"),
        Column("challenger", "float"),
        Column("rule", "string"),
        Column("result", "string", "pass, FAIL, or info (reported, not deciding)"),
        Column("reason", "string"),
    )
    result = {True: "pass", False: "FAIL", None: "info"}
    rows = tuple(
        {
            "check": c.name,
            "champion": rounded(c.champion),
            "challenger": rounded(c.challenger),
            "rule": c.limit,
            "result": result[c.passed],
            "reason": c.reason,
        }
        for c in checks
    )
    return Table(columns, rows)


def slices_table(slices: Mapping[str, Mapping[str, float]], key: str) -> Table:
    """Per machine type: rows, failures, caught, `key` (pr_auc or rmse) and alarm rate."""
    columns = (
        Column("machine type", "string"),
        Column("rows", "int"),
        Column("failures", "int"),
        Column("caught", "int"),
        Column(key, "float"),
        Column("alarm rate", "float"),
    )

    def count(m: Mapping[str, float], k: str) -> int | None:
        v = m.get(k)
        return int(v) if v is not None and math.isfinite(v) else None

    rows = tuple(
        {
            "machine type": name,
            "rows": count(m, "rows"),
            "failures": count(m, "failures"),
            "caught": count(m, "failures_caught"),
            key: rounded(m.get(key)),
            "alarm rate": rounded(m.get("alarm_rate")),
        }
        for name, m in sorted(slices.items())
    )
    return Table(columns, rows)


def psi_table(
    feature_psi: Mapping[str, float | None],
    drifted: Sequence[str],
    limits: Mapping[str, float] | None = None,
    *,
    top: int | None = None,
) -> Table:
    """Features by PSI, the drifted ones first; `limits` (`monitoring.feature_limits`) adds the threshold."""
    columns = (
        Column("feature", "string"),
        Column("PSI", "float", "against the model's training reference"),
        *(
            (Column("threshold", "float", "max(psi_critical, the feature's normal band)"),)
            if limits is not None
            else ()
        ),
        Column("drifted", "bool"),
    )
    hit = set(drifted)
    valid = {k: float(v) for k, v in feature_psi.items() if v is not None and math.isfinite(v)}
    ranked = sorted(valid, key=lambda k: (k not in hit, -valid[k]))
    rows = tuple(
        {
            "feature": k,
            "PSI": rounded(valid[k]),
            **({"threshold": rounded(limits.get(k))} if limits is not None else {}),
            "drifted": k in hit,
        }
        for k in (ranked if top is None else ranked[:top])
    )
    return Table(columns, rows)


def fleet_table(nodes: Sequence[Mapping[str, Any]]) -> Table:
    """One row per edge node of `pipeline.fleet_status`: version, shadow, health, last contact."""
    columns = (
        Column("node", "string"),
        Column("line", "string"),
        Column("canary", "bool"),
        Column("health", "string"),
        Column("version", "string", "the installed version; none = monitoring only"),
        Column("shadow", "string"),
        Column("bundle", "string", "sha256 of the installed bundle (first 12)"),
        Column("last contact", "string"),
    )
    rows = tuple(
        {
            "node": str(n["node"]),
            "line": str(n.get("line") or ""),
            "canary": bool(n.get("canary")),
            "health": str(n.get("health")),
            "version": f"v{n['version']}" if n.get("version") else "none (monitoring only)",
            "shadow": f"v{n['shadow_version']}" if n.get("shadow_version") else "",
            "bundle": str(n.get("bundle_sha256") or "")[:12],
            "last contact": str(n.get("last_contact") or ""),
        }
        for n in nodes
    )
    return Table(columns, rows)


__all__ = [
    "Column",
    "ColumnType",
    "Table",
    "comparison_table",
    "fleet_table",
    "gate_table",
    "psi_table",
    "rounded",
    "slices_table",
]

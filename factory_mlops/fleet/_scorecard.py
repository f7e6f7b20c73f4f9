"""The plant scorecard: one row per plant of what its home records, side by side (no Dagster).

Everything is read, nothing recomputed: the registry (champion and its holdout metrics), the audit
log (when the champion took over, retrains = gate decisions, rollbacks), the lake's daily JSON
reports (the latest drift, integrity and business-impact days) and the ingest manifests (contract
pass rate). A figure the home does not hold is None — shown as "n/a", never as 0: a plant that
never ingested a file has no pass rate, an RUL plant has no "failures caught" from the impact
layer, a plant without a champion has no champion age.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from factory_mlops.audit import AuditLog
from factory_mlops.config import PlantConfig, discover_plants, load_plant_config
from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.governance import champion_history
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import DRIFT_REPORTS, LAYER_TABLES, Lake, ReadingsStore

#: The columns of the scorecard, in order, with what each means (the table's description).
COLUMNS: dict[str, str] = {
    "plant_id": "plant",
    "equipment": "equipment type (its template when the plant extends one)",
    "champion_version": "the registry's champion version",
    "champion_age_days": "days since the current champion took over (audit log, wall clock)",
    "holdout_pr_auc": "champion's holdout PR-AUC (classification)",
    "holdout_rmse": "champion's holdout RMSE in hours (RUL)",
    "holdout_failure_recall": "champion's holdout share of failures caught",
    "holdout_alarm_rate": "champion's holdout alarm rate",
    "drift_severity": "latest daily drift report: severity",
    "drift_day": "day of that drift report",
    "integrity_severity": "latest daily integrity report: severity",
    "failures_caught": "failures caught over the latest business-impact window (30 days)",
    "failures_missed": "failures missed over that window",
    "downtime_cost": "downtime cost over that window",
    "retrains": "retrains that reached the gate (audit gate_decision entries)",
    "rollbacks": "champion rollbacks (audit rollback entries)",
    "contract_pass_rate": "share of ingested files that passed the data contract",
    "problem": "why a figure is missing: the plant failed to load, or its home could not be read",
}


@dataclass(frozen=True)
class PlantScorecard:
    """One plant's row. Every figure is None when the home does not record it."""

    plant_id: str
    equipment: str | None = None
    champion_version: int | None = None
    champion_age_days: float | None = None
    holdout_pr_auc: float | None = None
    holdout_rmse: float | None = None
    holdout_failure_recall: float | None = None
    holdout_alarm_rate: float | None = None
    drift_severity: str | None = None
    drift_day: str | None = None
    integrity_severity: str | None = None
    failures_caught: int | None = None
    failures_missed: int | None = None
    downtime_cost: float | None = None
    retrains: int | None = None
    rollbacks: int | None = None
    contract_pass_rate: float | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def display(self) -> dict[str, str]:
        """Every column as text: None is "n/a" (never 0), floats rounded for reading."""
        out: dict[str, str] = {}
        for k, v in self.to_dict().items():
            if v is None:
                out[k] = "n/a"
            elif isinstance(v, float):
                out[k] = f"{v:.1%}" if k == "contract_pass_rate" else f"{v:.3g}"
            else:
                out[k] = str(v)
        return out


def _latest_json(lake: Lake, table: str) -> dict[str, Any] | None:
    folder = lake.home.lake(lake.plant_id, table)
    days = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    if not days:
        return None
    return json.loads((folder / f"{days[-1]}.json").read_text(encoding="utf-8"))


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _champion(config: PlantConfig, home: FactoryHome, now: dt.datetime) -> dict[str, Any]:
    if not home.mlflow_db.exists():
        return {}
    from factory_mlops.pipeline import CHAMPION
    from factory_mlops.registry import ModelRegistry

    champ = ModelRegistry.from_home(home).get_alias(config.plant_id, CHAMPION)
    if champ is None:
        return {}
    m = champ.metrics
    out: dict[str, Any] = {
        "champion_version": champ.version,
        "holdout_pr_auc": _num(m.get("pr_auc")),
        "holdout_rmse": _num(m.get("rmse")),
        "holdout_failure_recall": _num(m.get("failure_recall")),
        "holdout_alarm_rate": _num(m.get("alarm_rate")),
    }
    took_over = [
        c for c in champion_history(home, config.plant_id) if c.to_version == champ.version
    ]
    if took_over:
        at = dt.datetime.fromisoformat(took_over[-1].at)
        out["champion_age_days"] = round((now - at).total_seconds() / 86400, 2)
    return out


def plant_scorecard(
    config: PlantConfig, home: FactoryHome, *, now: dt.datetime | None = None
) -> PlantScorecard:
    """The row of one plant, read from `home` (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    p = config.plant_id
    fields: dict[str, Any] = {"plant_id": p, "equipment": config.equipment or None}
    fields.update(_champion(config, home, now))
    lake = Lake(home, p)
    drift = _latest_json(lake, DRIFT_REPORTS)
    if drift is not None:
        fields["drift_severity"] = drift.get("severity")
        fields["drift_day"] = drift.get("day")
    integrity = _latest_json(lake, LAYER_TABLES["integrity"])
    if integrity is not None:
        fields["integrity_severity"] = integrity.get("severity")
    impact = _latest_json(lake, LAYER_TABLES["control_chart"])
    if impact is not None:
        fields["failures_caught"] = _count(impact.get("failures_caught"))
        fields["failures_missed"] = _count(impact.get("failures_missed"))
        fields["downtime_cost"] = _num(impact.get("downtime_cost"))
    audit = AuditLog.for_home(home)
    if audit.path.exists():
        fields["retrains"] = len(audit.entries(plant=p, kinds="gate_decision"))
        fields["rollbacks"] = len(audit.entries(plant=p, kinds="rollback"))
    manifests = ReadingsStore(home, p).manifests()
    if manifests:
        fields["contract_pass_rate"] = sum(m.passed for m in manifests) / len(manifests)
    return PlantScorecard(**fields)


def fleet_scorecard(
    plants_dir: str | Path, home: FactoryHome, *, now: dt.datetime | None = None
) -> list[PlantScorecard]:
    """One row per plant under `plants_dir`; a plant that fails to load or read is a row with
    its `problem` (one broken plant never hides the others)."""
    rows = []
    for plant_id, path in discover_plants(plants_dir).items():
        try:
            rows.append(plant_scorecard(load_plant_config(path), home, now=now))
        except (FactoryMLOpsError, OSError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            rows.append(PlantScorecard(plant_id=plant_id, problem=first))
    return rows

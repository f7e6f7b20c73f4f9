"""The three monitoring layers of a plant for one day, stored in the lake. No Dagster here.

* Layer 1 `integrity_for_day`: null rates, out-of-range, late arrival, gaps (per sensor).
* Layer 2 `drift_for_day` (in `_daily`) and `health_for_day`: the label-free performance
  estimate (CBPE) of the deployed model, its alarm rate against its normal band, latency.
* Layer 3 `impact_for_day`: realised outcomes once the maintenance log has them: failures caught
  and missed, false alarms, lead time, downtime cost, and the control chart of the rolling recall.

Every result has a severity; `apply_actions` maps it through plant.yaml `monitoring.actions` and
writes an alert record when the mapping says `alert`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import LAYER_TABLES, PREDICTIONS, Lake, day_end, load_maintenance
from factory_mlops.monitoring import Alert, AlertLog, impact_day, performance_day
from factory_mlops.pipeline._integrity_day import day_integrity


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def apply_actions(
    config: PlantConfig,
    home: FactoryHome,
    layer: str,
    day: dt.date,
    severity: str,
    reasons: list[str],
    model_version: int = 0,
) -> list[str]:
    """The actions plant.yaml maps this result to; writes the alert record when one is `alert`."""
    actions = config.monitoring.actions_for(layer, severity)
    if "alert" in actions and severity != "ok":
        AlertLog.for_home(home).append(
            Alert(
                config.plant_id,
                layer,
                severity,
                day.isoformat(),
                list(reasons),
                list(actions),
                int(model_version),
            )
        )
    return actions


def _store(
    config: PlantConfig, home: FactoryHome, layer: str, day: dt.date, payload: dict[str, Any]
) -> dict[str, Any]:
    payload = _clean(payload)
    Lake(home, config.plant_id).write_json(LAYER_TABLES[layer], day, payload)
    return payload


# ---- layer 1 -----------------------------------------------------------------------------------
def _monitoring_only(config: PlantConfig, home: FactoryHome) -> bool:
    from factory_mlops.pipeline._serving import deployed_nowhere

    return deployed_nowhere(config, home)


def _not_judged(
    config: PlantConfig, home: FactoryHome, layer: str, day: dt.date, what: str
) -> dict[str, Any]:
    """The stored result of a model layer on a monitoring-only day: nothing judged, and why."""
    from factory_mlops.pipeline._serving import NO_MODEL_DEPLOYED

    payload: dict[str, Any] = {
        "day": day.isoformat(),
        "model_version": None,
        "monitoring_only": True,
        "severity": "ok",
        "reasons": [f"not judged: {NO_MODEL_DEPLOYED}; {what}"],
        "actions": [],
    }
    return _store(config, home, layer, day, payload)


def integrity_for_day(config: PlantConfig, home: FactoryHome, day: dt.date) -> dict[str, Any]:
    """Layer 1 for `day`: per-sensor integrity of the readings that arrived, stored and returned."""
    report = day_integrity(config, home, day)
    d = report.to_dict()
    table = report.table()
    payload: dict[str, Any] = {
        "day": day.isoformat(),
        "severity": report.severity,
        "reasons": list(report.reasons),
        "sensors": d.get("sensors", d),
    }
    for col, key in (
        ("null_rate", "max_null_rate"),
        ("out_of_range_rate", "max_out_of_range_rate"),
        ("late_share", "max_late_share"),
        ("max_gap_hours", "max_gap_hours"),
        ("missing_share", "max_missing_share"),
    ):
        if col in table.columns and table[col].notna().any():
            payload[key] = float(table[col].max())
    payload["table_md"] = _markdown(table)
    payload["actions"] = apply_actions(
        config, home, "integrity", day, report.severity, payload["reasons"]
    )
    return _store(config, home, "integrity", day, payload)


def _markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "no readings"
    cols = list(table.columns)
    rows = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        rows.append(
            "| "
            + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.tolist())
            + " |"
        )
    return "\n".join(rows)


# ---- layer 2: label-free estimate, alarm band, latency ----------------------------------------
def _served(lake: Lake, version: int, days: list[dt.date]) -> list[pd.DataFrame]:
    """Predictions of model `version` on each of `days` that it served (one frame per day)."""
    frames = []
    for d in days:
        f = lake.read(PREDICTIONS, d) if lake.exists(PREDICTIONS, d) else pd.DataFrame()
        if len(f) and "model_version" in f.columns:
            f = f[f["model_version"] == version]
            if len(f):
                frames.append(f)
    return frames


def _served_days(lake: Lake, version: int, before: dt.date) -> list[dt.date]:
    """The days before `before` on which model `version` scored, oldest first."""
    out = []
    for d in sorted(x for x in lake.days(PREDICTIONS) if x < before):
        f = lake.read(PREDICTIONS, d)
        if len(f) and "model_version" in f.columns and (f["model_version"] == version).any():
            out.append(d)
    return out


def _latency(config: PlantConfig, home: FactoryHome, day: dt.date) -> dict[str, Any]:
    """p99 of the edge service's request-to-prediction latency logged on `day` (batch rows have none)."""
    from factory_mlops.edge import PredictionLog

    lo, hi = day_end(day) - pd.Timedelta(days=1), day_end(day)
    values: list[np.ndarray] = []
    for node in config.edge.nodes:
        path = home.edge(config.plant_id, node.id) / "predictions.sqlite"
        if not path.exists():
            continue
        log = PredictionLog(path).read(start=lo, end=hi)
        if "latency_us" in log.columns:
            v = pd.to_numeric(log["latency_us"], errors="coerce").dropna().to_numpy(dtype=float)
            values.append(v)
    lat = np.concatenate(values) if values else np.array([])
    warn, crit = config.monitoring.latency.p99_ms
    if not len(lat):
        return {
            "severity": "ok",
            "reasons": ["no service latency logged (batch scoring only)"],
            "requests": 0,
        }
    p99 = float(np.percentile(lat, 99) / 1000.0)
    sev = "critical" if p99 >= crit else "warning" if p99 >= warn else "ok"
    return {
        "severity": sev,
        "requests": len(lat),
        "latency_p99_ms": p99,
        "latency_p50_ms": float(np.median(lat) / 1000),
        "reasons": [
            f"service p99 {p99:.1f} ms over {len(lat)} requests (limits {warn:g}/{crit:g} ms)"
        ],
    }


def health_for_day(config: PlantConfig, home: FactoryHome, day: dt.date) -> dict[str, Any]:
    """Layer 2 without labels for `day`: CBPE estimate vs the model's served baseline, alarm band, latency."""
    lake = Lake(home, config.plant_id)
    preds = lake.read(PREDICTIONS, day)
    if preds.empty and _monitoring_only(config, home):
        return _not_judged(config, home, "performance", day, "no predictions to estimate from")
    if preds.empty:
        raise ValueError(
            f"{config.plant_id} {day}: no predictions stored; run prediction_log for the day first"
        )
    version = int(preds["model_version"].max())
    preds = preds[preds["model_version"] == version]
    earlier = _served(lake, version, _served_days(lake, version, day))
    payload: dict[str, Any] = {
        "day": day.isoformat(),
        **performance_day(config, version, earlier, preds),
    }
    severity, reasons = payload.pop("severity"), payload.pop("reasons")
    latency = _latency(config, home, day)
    payload["latency"] = latency
    if "latency_p99_ms" in latency:
        payload["latency_p99_ms"] = latency["latency_p99_ms"]
    payload["latency_actions"] = apply_actions(
        config, home, "latency", day, latency["severity"], latency["reasons"], version
    )
    payload.update({"severity": severity, "reasons": reasons})
    payload["actions"] = apply_actions(config, home, "performance", day, severity, reasons, version)
    return _store(config, home, "performance", day, payload)


# ---- layer 3: realised outcomes, business impact, control chart --------------------------------
def impact_for_day(
    config: PlantConfig, home: FactoryHome, day: dt.date, *, lookback_days: int = 30
) -> dict[str, Any]:
    """Layer 3 as known at the end of `day`: realised impact of the last `lookback_days` of
    predictions whose outcome is known, and the control chart of the deployed model's rolling recall."""
    lake = Lake(home, config.plant_id)
    known_at = day_end(day)
    days = [d for d in lake.days(PREDICTIONS) if day - dt.timedelta(days=lookback_days) < d <= day]
    frames = [f for f in (lake.read(PREDICTIONS, d) for d in days) if len(f)]
    if not frames and _monitoring_only(config, home):
        return _not_judged(
            config, home, "control_chart", day, "no alarms to set against the failures"
        )
    if not frames:
        raise ValueError(
            f"{config.plant_id} {day}: no predictions stored; run prediction_log for the day first"
        )
    preds = pd.concat(frames, ignore_index=True)
    version = (
        int(lake.read(PREDICTIONS, day)["model_version"].max())
        if lake.exists(PREDICTIONS, day)
        else int(preds["model_version"].max())
    )
    maintenance = load_maintenance(config, home, as_of=known_at)
    result = impact_day(config, version, preds, maintenance, known_at, lookback_days=lookback_days)
    payload: dict[str, Any] = {"day": day.isoformat(), **result}
    payload["actions"] = (
        apply_actions(
            config, home, "control_chart", day, payload["severity"], payload["reasons"], version
        )
        if config.model.task == "classification" and "control_chart" in payload
        else []
    )
    return _store(config, home, "control_chart", day, payload)

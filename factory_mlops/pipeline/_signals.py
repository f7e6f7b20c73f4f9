"""Trigger signals from what monitoring stored for a plant: the inputs of `triggers.decide`.

The Dagster sensors call these with the day a monitoring asset was materialized for; the
functions read the stored results (lake JSON, the feedback store, the maintenance log), so the
sensors stay thin and the same signals can be rebuilt outside Dagster.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.feedback import FeedbackStore, feedback_queue
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import LAYER_TABLES, Lake, day_end, load_maintenance
from factory_mlops.monitoring import Severity
from factory_mlops.triggers import Signal

_SEVERITIES: dict[str, Severity] = {"ok": "ok", "warning": "warning", "critical": "critical"}


def drift_reason(payload: dict[str, Any]) -> str:
    sensors = ", ".join(payload.get("drifted_sensors") or []) or "none"
    return (
        f"drift {payload.get('severity')} on {payload.get('day')} ({_model(payload.get('model_version'))}): "
        f"{'; '.join(payload.get('reasons') or [])}; drifted sensors: {sensors}; "
        f"max PSI {float(payload.get('max_psi') or float('nan')):.2f}, "
        f"prediction PSI {float(payload.get('prediction_psi') or float('nan')):.2f}"
    )


def _model(version: Any) -> str:
    """`model v3`, or what is known when the result names no deployed version (never "v0")."""
    return f"model v{version}" if version else "no model version recorded"


def layer_payload(
    config: PlantConfig, home: FactoryHome, layer: str, day: dt.date
) -> dict[str, Any] | None:
    """The stored daily result of a monitoring layer, or None when that day was not monitored."""
    if layer not in LAYER_TABLES:
        raise ValueError(f"unknown monitoring layer {layer!r}; known: {', '.join(LAYER_TABLES)}")
    return Lake(home, config.plant_id).read_json(LAYER_TABLES[layer], day)


def layer_signal(config: PlantConfig, home: FactoryHome, layer: str, day: dt.date) -> Signal | None:
    """The signal of one layer's stored result for `day` (None when the day has no stored result)."""
    payload = layer_payload(config, home, layer, day)
    if payload is None:
        return None
    part = payload.get(layer, payload) if layer == "control_chart" else payload
    return signal_from_result(
        layer, {**part, "model_version": payload.get("model_version"), "day": day.isoformat()}, day
    )


def signal_from_result(layer: str, result: dict[str, Any], day: dt.date) -> Signal:
    """A layer's daily result (stored payload or Dagster metadata values) as a trigger signal.

    `result` needs `severity`; `reasons` (list or `; `-joined text) and `model_version` are used
    when present. The drift layer's reason names the drifted sensors and the PSI figures.
    """
    if "severity" not in result:
        raise ValueError(
            f"{layer} result of {day} has no severity; materialize the {layer} asset again"
        )
    reasons = result.get("reasons") or []
    result = {**result, "reasons": [reasons] if isinstance(reasons, str) else list(reasons)}
    version = result.get("model_version") or None  # 0/None: no model (monitoring only, integrity)
    severity = _SEVERITIES.get(str(result["severity"]))
    if severity is None:
        raise ValueError(
            f"{layer} result of {day}: severity {result['severity']!r} is not ok, warning or critical"
        )
    if layer == "drift":
        if isinstance(result.get("drifted_sensors"), str):
            result["drifted_sensors"] = [x for x in result["drifted_sensors"].split(", ") if x]
        # the day's verdict (steps against the previous days included) is decided by
        # `monitoring.drift_day`; the reason names what made it
        reason = drift_reason({**result, "day": day.isoformat()})
    else:
        reason = (
            f"{layer.replace('_', ' ')} {result['severity']} on {day} ({_model(version)}): "
            + "; ".join(str(r) for r in result["reasons"])
        )
    kind = {
        "integrity": "integrity",
        "drift": "drift",
        "performance": "performance",
        "control_chart": "control_chart",
        "retrain_value": "retrain_value",
    }.get(layer)
    if kind is None:
        raise ValueError(f"unknown monitoring layer {layer!r}; known: {', '.join(LAYER_TABLES)}")
    return Signal(
        kind,
        severity,
        day_end(day),
        reason[:1500],
        f"{day.isoformat()}:v{version}" if version else f"{day.isoformat()}:no-model",
        {"model_version": version},
    )


def failure_types(log: pd.DataFrame) -> set[str]:
    """The failure types named by failure entries of a maintenance log."""
    if log.empty or "failure_type" not in log.columns:
        return set()
    fails = log[log["event"].astype(str) == "failure"] if "event" in log.columns else log
    return {str(t) for t in fails["failure_type"].dropna() if str(t).strip()}


def known_failure_types(
    config: PlantConfig, home: FactoryHome, data_through: dt.date | None
) -> set[str]:
    """Failure types in the maintenance log as it was known when the deployed model's data ended."""
    if data_through is None:
        return set()
    return failure_types(load_maintenance(config, home, as_of=day_end(data_through)))


def deployed_failure_types(config: PlantConfig, home: FactoryHome) -> set[str] | None:
    """Failure types the model deployed on the plant's first edge node could have learned.

    None when no model is deployed there (nothing to compare a failure type with).
    """
    from factory_mlops.edge import EdgeModel
    from factory_mlops.errors import BundleError

    try:
        manifest = EdgeModel.load(home.edge(config.plant_id, config.edge.nodes[0].id)).manifest
    except (FileNotFoundError, BundleError):
        return None
    through = (manifest.get("lineage") or {}).get("data_through")
    return known_failure_types(config, home, dt.date.fromisoformat(through) if through else None)


def new_failure_type_signal(
    config: PlantConfig, home: FactoryHome, day: dt.date, known: set[str]
) -> Signal:
    """Failure types reported by the end of `day` (maintenance log or operator feedback) not in `known`."""
    seen = failure_types(load_maintenance(config, home, as_of=day_end(day)))
    from_feedback = feedback_failure_types(config, home)
    new = sorted((seen | from_feedback) - known)
    if not new:
        return Signal(
            "new_failure_type", "ok", day_end(day), f"no new failure type by {day}", f"none:{day}"
        )
    where = [
        f"{t} ({'feedback' if t in from_feedback and t not in seen else 'maintenance log'})"
        for t in new
    ]
    return Signal(
        "new_failure_type",
        "critical",
        day_end(day),
        f"new failure type(s) by {day}: {', '.join(where)}; the model was trained on "
        f"{', '.join(sorted(known)) or 'no failure types'}",
        "+".join(new),
        {"failure_types": new},
    )


def feedback_failure_types(config: PlantConfig, home: FactoryHome) -> set[str]:
    """Failure types operators named in their feedback."""
    return set(FeedbackStore.for_home(home).failure_types(config.plant_id))


def feedback_signal(config: PlantConfig, home: FactoryHome) -> Signal | None:
    """The operator feedback queue: labels a retrain can still use (None when there is none).

    Pending verdicts the last retrain read and could not use (a RUL plant, a day without feature
    rows) are not counted: see `factory_mlops.feedback.feedback_queue`.
    """
    queue = feedback_queue(config, home)
    pending = list(queue.counted)
    if not pending:
        return None
    n, need = len(pending), config.retrain.feedback_min_labels
    wrong = sum(r.verdict == "wrong" for r in pending)
    newest = max(pd.Timestamp(r.prediction_time) for r in pending)
    at = newest.tz_localize("UTC") if newest.tzinfo is None else newest
    last_id = max(int(r.id) for r in pending)
    stale = len(queue.unusable)
    note = (
        f"; {stale} older verdict(s) the last retrain could not use are not counted"
        if stale
        else ""
    )
    return Signal(
        "feedback",
        "critical" if n >= need else "warning",
        at,
        f"{n} operator label(s) queued ({wrong} 'wrong'), threshold {need}{note}",
        f"fb-{last_id}",
        {"pending": n, "wrong": wrong, "last_id": last_id, "not_counted": stale},
    )

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
from factory_mlops.ingest import Lake
from factory_mlops.monitoring._alerts import Alert, AlertLog
from factory_mlops.pipeline._daily import PREDICTIONS
from factory_mlops.pipeline._signals import LAYER_TABLES, day_end

_RANK = {"ok": 0, "warning": 1, "critical": 2}


def worst(*severities: str) -> str:
    return max(severities, key=lambda s: _RANK[s]) if severities else "ok"


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
    from factory_mlops.pipeline._integrity_day import day_integrity

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
def _served(lake: Lake, version: int, days: list[dt.date]) -> pd.DataFrame:
    """Predictions of model `version` on `days` (days it did not serve contribute nothing)."""
    frames = []
    for d in days:
        f = lake.read(PREDICTIONS, d) if lake.exists(PREDICTIONS, d) else pd.DataFrame()
        if len(f) and "model_version" in f.columns:
            f = f[f["model_version"] == version]
            if len(f):
                frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
    from factory_mlops.monitoring._cbpe import estimate_performance, estimate_severity

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
    m = config.monitoring.performance
    payload: dict[str, Any] = {"day": day.isoformat(), "model_version": version, "rows": len(preds)}
    severity, reasons = "ok", []
    if "probability" in preds.columns and preds["probability"].notna().any():
        served = _served_days(lake, version, day)
        window = _served(
            lake, version, [*served[-(m.window_days - 1) :], day] if m.window_days > 1 else [day]
        )
        est = estimate_performance(
            window["probability"].to_numpy(dtype=float), window["alarm"].to_numpy(dtype=bool)
        )
        e = est.to_dict()
        expected = float(window["probability"].sum())
        payload["estimate"] = e
        payload.update(
            {
                "estimated_recall": e.get("recall"),
                "estimated_precision": e.get("precision"),
                "estimated_accuracy": e.get("accuracy"),
                "estimated_recall_low": e.get("recall_low"),
                "alarm_rate": e.get("alarm_rate"),
                "expected_failure_rows": expected,
                "window_days": min(m.window_days, len(served) + 1),
            }
        )
        if len(served) < m.baseline_days:
            reasons.append(
                f"baseline forming: v{version} has served {len(served)} earlier day(s); its first "
                f"{m.baseline_days} days become the reference of the estimate"
            )
        elif expected < m.min_expected_failure_rows:
            reasons.append(
                f"not judged: the last {m.window_days} day(s) expect {expected:.1f} failure rows "
                f"(< {m.min_expected_failure_rows:g}), too few for a recall estimate"
            )
        else:
            base = _served(lake, version, served[: m.baseline_days])
            ref = estimate_performance(
                base["probability"].to_numpy(dtype=float), base["alarm"].to_numpy(dtype=bool)
            )
            r = ref.to_dict()
            payload.update(
                {"reference_recall": r.get("recall"), "reference_alarm_rate": r.get("alarm_rate")}
            )
            severity, why = estimate_severity(
                est, ref, drop_warning=m.recall_drop_warning, drop_critical=m.recall_drop_critical
            )
            reasons += list(why)
            r0, r1 = float(r.get("alarm_rate") or 0.0), float(e.get("alarm_rate") or 0.0)
            if r0 > 0 and (r1 > r0 * m.alarm_rate_band or r1 < r0 / m.alarm_rate_band):
                severity = worst(severity, "warning")
                reasons.append(
                    f"alarm rate {r1:.3f} outside its normal band {r0 / m.alarm_rate_band:.3f}..{r0 * m.alarm_rate_band:.3f} "
                    f"(v{version}'s first {m.baseline_days} days, factor {m.alarm_rate_band:g})"
                )
    else:
        reasons.append(
            "no calibrated probabilities (RUL model): watched by drift and the realised error"
        )
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
    from factory_mlops.monitoring._control import control_chart
    from factory_mlops.monitoring._impact import business_impact
    from factory_mlops.monitoring._outcomes import label_outcomes
    from factory_mlops.pipeline._retrain import load_maintenance

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
    payload: dict[str, Any] = {"day": day.isoformat(), "model_version": version}
    if config.model.task != "classification":
        payload.update(
            {
                "severity": "ok",
                "reasons": [
                    "realised recall needs alarms against a failure horizon; "
                    "RUL models are judged by the gate's realised error"
                ],
            }
        )
        payload["actions"] = []
        return _store(config, home, "control_chart", day, payload)
    h = config.model.horizon_hours
    outcomes = label_outcomes(
        preds, maintenance, h, known_at, label_latency_hours=config.model.label_latency_hours
    )
    known = outcomes[outcomes["outcome"].notna()]
    payload["predictions_with_outcome"] = len(known)
    payload["predictions_pending"] = int(outcomes["outcome"].isna().sum())
    if known.empty:
        payload.update(
            {
                "severity": "ok",
                "actions": [],
                "reasons": [
                    f"no outcome known yet: {len(outcomes)} prediction(s) of the last {lookback_days} days wait for "
                    f"their {h:g} h horizon and the maintenance log ({config.model.label_latency_hours:g} h latency)"
                ],
            }
        )
        return _store(config, home, "control_chart", day, payload)
    impact = business_impact(known, maintenance, horizon_hours=h, costs=config.costs)
    imp = impact.to_dict()
    payload["impact"] = imp
    for k in (
        "failures",
        "failures_caught",
        "failures_missed",
        "false_alarms",
        "false_alarm_episodes",
        "median_lead_time_h",
        "downtime_cost",
        "cost_avoided",
    ):
        if k in imp:
            payload[k] = imp[k]
    mine = known[known["model_version"] == version]
    if len(mine) and "probability" in mine.columns and mine["probability"].notna().all():
        # the label-free estimate on these very rows, now that their outcomes are known
        from factory_mlops.monitoring._cbpe import compare_with_realised, estimate_performance

        est = estimate_performance(
            mine["probability"].to_numpy(dtype=float), mine["alarm"].to_numpy(dtype=bool)
        )
        cmp = compare_with_realised(est, mine)
        payload["estimate_vs_realised"] = cmp
        rec = cmp["metrics"].get("recall", {})
        payload["estimated_recall"] = rec.get("estimated")
        payload["estimate_inside_interval"] = rec.get("inside")
    if len(mine):
        payload["realised_recall"] = (
            float(mine.loc[mine["outcome"] == 1, "alarm"].mean())
            if (mine["outcome"] == 1).any()
            else None
        )
    cc = config.monitoring.control_chart
    chart = control_chart(
        mine,
        metric=cc.metric,
        method=cc.method,
        k=cc.k,
        window_hours=cc.window_hours,
        ewma_lambda=cc.ewma_lambda,
        cusum_k=cc.cusum_k,
        cusum_h=cc.cusum_h,
        min_positives=cc.min_positives,
        baseline_windows=cc.baseline_windows,
    )
    c = chart.to_dict()
    payload["control_chart"] = {
        "method": cc.method,
        "metric": cc.metric,
        **{k: v for k, v in c.items() if k != "chart"},
    }
    severity = str(c.get("severity", "ok"))
    reasons = list(c.get("reasons") or [])
    payload.update({"severity": severity, "reasons": reasons})
    payload["actions"] = apply_actions(
        config, home, "control_chart", day, severity, reasons, version
    )
    return _store(config, home, "control_chart", day, payload)

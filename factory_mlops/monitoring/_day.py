"""One day of the monitoring layers, on data already in memory: the rule the daily assets store.

The daily job reads the lake and calls these; the policy benchmark keeps its simulated year in
memory and calls the same functions, so the benchmark measures the product's rules, not a copy.

* `drift_day`: the day's features and scores against the deployed model's training reference,
  and against the rolling baseline of the previous served days (layer 2).
* `performance_day`: the label-free estimate (CBPE) of the deployed version over its recent served
  days against its first served days, and its alarm rate against its normal band (layer 2).
* `impact_day`: realised outcomes as known at a time, their business impact, and the control
  chart of the deployed version's rolling recall (layer 3).

Each returns the JSON-able payload the lake stores (without the actions, which need the home).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.monitoring._cbpe import (
    compare_with_realised,
    estimate_performance,
    estimate_severity,
)
from factory_mlops.monitoring._control import control_chart
from factory_mlops.monitoring._drift import DriftReference, DriftReport, drift_report
from factory_mlops.monitoring._impact import business_impact
from factory_mlops.monitoring._outcomes import label_outcomes
from factory_mlops.monitoring._rolling import rolling_drift
from factory_mlops.monitoring._steps import sensor_steps

_RANK = {"ok": 0, "warning": 1, "critical": 2}


def worst(*severities: str) -> str:
    """The most severe of `severities` (`ok` when none is given)."""
    return max(severities, key=lambda s: _RANK[s]) if severities else "ok"


def drift_day(
    config: PlantConfig,
    reference: DriftReference,
    features: pd.DataFrame,
    scores: np.ndarray,
    history: pd.DataFrame,
    *,
    readings: pd.DataFrame | None = None,
    readings_history: pd.DataFrame | None = None,
) -> tuple[DriftReport, dict[str, Any]]:
    """Drift of one day's `features` and `scores` (layer 2).

    Args:
        config: the plant (its `drift:` thresholds).
        reference: the deployed model's training reference.
        features: the day's feature rows.
        scores: the deployed model's scores of those rows (P(failure), or RUL hours).
        history: the feature rows of the previous served days (`monitoring.rolling_baseline_days`);
            empty when there is none.
        readings: the day's raw readings (wide: `timestamp, machine_id, <sensor>...`), for the
            per-sensor fleet step test (`monitoring.steps`); None = not run.
        readings_history: the raw readings of the previous `monitoring.rolling_baseline_days` days.

    Returns:
        The report against the training reference and the payload: the report's fields plus
        `rolling` (severity and reasons against `history`), `rolling_feature_psi` and `steps`
        (the fleet step report). The payload's `severity` is the day's verdict: the training
        reference's, made critical by a step against the previous days (`rolling` critical, or a
        fleet step on a sensor); `reference_severity` keeps the reference report's own.
    """
    report = drift_report(reference, features, scores, config.drift)
    payload: dict[str, Any] = dict(report.to_dict())
    if len(history) and len(features):
        rolling = rolling_drift(history, features, list(reference.features), config.drift).to_dict()
        payload["rolling"] = {k: v for k, v in rolling.items() if not k.startswith("feature_")}
        payload["rolling_feature_psi"] = rolling["feature_psi"]
    else:
        payload["rolling"] = {
            "severity": "ok",
            "reasons": ["no earlier served day to compare with"],
        }
    payload["reference_severity"] = report.severity
    steps = None
    if readings is not None:
        steps = sensor_steps(
            readings_history if readings_history is not None else readings.iloc[:0],
            readings,
            [s.name for s in config.sensors],
            config.monitoring.steps,
            units={s.name: s.unit for s in config.sensors},
        ).to_dict()
        payload["steps"] = steps
    severity, reasons = drift_verdict(
        str(report.severity), list(report.reasons), payload["rolling"], steps
    )
    payload["severity"] = severity
    payload["reasons"] = reasons
    return report, payload


def drift_verdict(
    severity: str,
    reasons: list[str],
    rolling: dict[str, Any] | None,
    steps: dict[str, Any] | None = None,
) -> tuple[str, list[str]]:
    """The day's drift verdict from the training-reference report and the step tests.

    A step against the previous served days is a change today, even while the model's reference
    (its training days) still lets the day pass: a critical rolling report or a critical fleet step
    on a sensor makes the day critical, and its reason comes first.
    """
    out = list(reasons)
    for what, part in (
        ("step change against the previous served days", rolling),
        ("fleet step on a sensor", steps),
    ):
        if part and part.get("severity") == "critical" and severity != "critical":
            severity = "critical"
            out.insert(0, f"{what}: " + "; ".join(part.get("reasons") or [f"{what} critical"]))
    return severity, out


def performance_day(
    config: PlantConfig, version: int, earlier: Sequence[pd.DataFrame], today: pd.DataFrame
) -> dict[str, Any]:
    """The label-free health of model `version` on one day (layer 2, without latency).

    Args:
        config: the plant (`monitoring.performance`).
        version: the deployed version the rows belong to.
        earlier: that version's predictions of each day it served before today, oldest first (one
            frame per served day, with `probability` and `alarm`).
        today: its predictions of the day evaluated.

    Returns:
        The payload: `severity`, `reasons`, the estimate over the last `window_days` served days
        and, once judged, the reference estimate of the version's first `baseline_days`.
        A day is "not judged" (severity ok, with the reason) while the baseline forms or when the
        window expects too few failure rows for a recall estimate.
    """
    m = config.monitoring.performance
    payload: dict[str, Any] = {"model_version": int(version), "rows": len(today)}
    if "probability" not in today.columns or not today["probability"].notna().any():
        payload.update(
            severity="ok",
            reasons=[
                "no calibrated probabilities (RUL model): watched by drift and the realised error"
            ],
        )
        return payload
    days = [*earlier[-(m.window_days - 1) :], today] if m.window_days > 1 else [today]
    window = pd.concat([d for d in days if len(d)], ignore_index=True)
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
            "window_days": min(m.window_days, len(earlier) + 1),
        }
    )
    severity, reasons = "ok", []
    if len(earlier) < m.baseline_days:
        reasons.append(
            f"baseline forming: v{version} has served {len(earlier)} earlier day(s); its first "
            f"{m.baseline_days} days become the reference of the estimate"
        )
    elif expected < m.min_expected_failure_rows:
        reasons.append(
            f"not judged: the last {m.window_days} day(s) expect {expected:.1f} failure rows "
            f"(< {m.min_expected_failure_rows:g}), too few for a recall estimate"
        )
    else:
        base = pd.concat([d for d in earlier[: m.baseline_days] if len(d)], ignore_index=True)
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
                f"alarm rate {r1:.3f} outside its normal band "
                f"{r0 / m.alarm_rate_band:.3f}..{r0 * m.alarm_rate_band:.3f} "
                f"(v{version}'s first {m.baseline_days} days, factor {m.alarm_rate_band:g})"
            )
    payload.update({"severity": severity, "reasons": reasons})
    return payload


def impact_day(
    config: PlantConfig,
    version: int,
    predictions: pd.DataFrame,
    maintenance: pd.DataFrame,
    known_at: pd.Timestamp,
    *,
    lookback_days: int,
) -> dict[str, Any]:
    """Layer 3 as known at `known_at`: realised impact and the control chart of `version`.

    Args:
        config: the plant (`model` horizon and label latency, `costs`, `monitoring.control_chart`).
        version: the deployed version (the control chart follows its rows only).
        predictions: the plant's predictions of the last `lookback_days`, with `model_version`.
        maintenance: the maintenance log as known at `known_at`.
        known_at: the time the outcomes are judged (the end of the day evaluated).
        lookback_days: the days of predictions given (for the reasons).

    Returns:
        The payload: `severity`, `reasons`, the impact figures of the predictions whose outcome is
        known, the estimate against the realised recall, and `control_chart`.
    """
    payload: dict[str, Any] = {"model_version": int(version)}
    if config.model.task != "classification":
        payload.update(
            severity="ok",
            reasons=[
                "realised recall needs alarms against a failure horizon; "
                "RUL models are judged by the gate's realised error"
            ],
        )
        return payload
    h = config.model.horizon_hours
    outcomes = label_outcomes(
        predictions,
        maintenance,
        h,
        known_at,
        label_latency_hours=config.model.label_latency_hours,
    )
    known = outcomes[outcomes["outcome"].notna()]
    payload["predictions_with_outcome"] = len(known)
    payload["predictions_pending"] = int(outcomes["outcome"].isna().sum())
    if known.empty:
        payload.update(
            severity="ok",
            reasons=[
                f"no outcome known yet: {len(outcomes)} prediction(s) of the last {lookback_days} "
                f"days wait for their {h:g} h horizon and the maintenance log "
                f"({config.model.label_latency_hours:g} h latency)"
            ],
        )
        return payload
    imp = business_impact(
        known,
        maintenance,
        horizon_hours=h,
        costs=config.costs,
        episode_gap=pd.Timedelta(seconds=config.episode_gap_s),
    ).to_dict()
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
        est = estimate_performance(
            mine["probability"].to_numpy(dtype=float), mine["alarm"].to_numpy(dtype=bool)
        )
        cmp = compare_with_realised(est, mine)
        payload["estimate_vs_realised"] = cmp
        rec = cmp["metrics"].get("recall", {})
        payload["estimated_recall"] = rec.get("estimated")
        payload["estimate_inside_interval"] = rec.get("inside")
    if len(mine):
        positives = mine["outcome"] == 1
        payload["realised_recall"] = (
            float(mine.loc[positives, "alarm"].mean()) if positives.any() else None
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
    payload.update(
        {"severity": str(c.get("severity", "ok")), "reasons": list(c.get("reasons") or [])}
    )
    return payload

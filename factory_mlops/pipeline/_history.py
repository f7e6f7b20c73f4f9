"""The stored daily payloads of a plant over data days, for charts over data time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import Lake


def payload_history(
    config: PlantConfig, home: FactoryHome, table: str, day: dt.date, days: int = 30
) -> list[tuple[dt.date, dict[str, Any]]]:
    """The stored payloads of `table` (e.g. `DRIFT_REPORTS`) for the `days` data days up to `day`,
    oldest first; days without a payload are left out."""
    lake = Lake(home, config.plant_id)
    out = []
    for i in range(days - 1, -1, -1):
        d = day - dt.timedelta(days=i)
        payload = lake.read_json(table, d)
        if payload is not None:
            out.append((d, payload))
    return out


def _values(history: list[tuple[dt.date, dict[str, Any]]], key: str) -> list[float | None]:
    out: list[float | None] = []
    for _, p in history:
        v: Any = p
        for part in key.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        out.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None)
    return out


def drift_chart(config: PlantConfig, home: FactoryHome, day: dt.date, days: int = 30) -> bytes:
    """PNG: share of features drifted per data day (training reference, rolling) vs critical_share."""
    from factory_mlops.charts import day_chart
    from factory_mlops.ingest import DRIFT_REPORTS

    h = payload_history(config, home, DRIFT_REPORTS, day, days)
    return day_chart(
        [d for d, _ in h],
        {
            "vs training reference": _values(h, "share_drifted"),
            "vs previous days": _values(h, "rolling.share_drifted"),
        },
        lines={f"critical_share {config.drift.critical_share:g}": config.drift.critical_share},
        title=f"{config.plant_id}: share of features drifted (PSI), per data day",
        ylabel="share of features",
    )


def health_chart(config: PlantConfig, home: FactoryHome, day: dt.date, days: int = 30) -> bytes:
    """PNG: alarm rate per data day and its normal band, with the estimated recall."""
    from factory_mlops.charts import day_chart
    from factory_mlops.ingest import LAYER_TABLES

    h = payload_history(config, home, LAYER_TABLES["performance"], day, days)
    ref = next(
        (p["reference_alarm_rate"] for _, p in reversed(h) if p.get("reference_alarm_rate")), None
    )
    band = config.monitoring.performance.alarm_rate_band
    lines = (
        {} if ref is None else {"normal band (high)": ref * band, "normal band (low)": ref / band}
    )
    return day_chart(
        [d for d, _ in h],
        {"alarm rate": _values(h, "alarm_rate")},
        lines=lines,
        title=f"{config.plant_id}: alarm rate per data day",
        ylabel="share of rows alarmed",
    )


def impact_chart(config: PlantConfig, home: FactoryHome, day: dt.date, days: int = 30) -> bytes:
    """PNG: realised and estimated recall per data day, and the control chart's centre."""
    from factory_mlops.charts import day_chart
    from factory_mlops.ingest import LAYER_TABLES

    h = payload_history(config, home, LAYER_TABLES["control_chart"], day, days)
    centre = next(
        (
            p["control_chart"]["centre"]
            for _, p in reversed(h)
            if isinstance((p.get("control_chart") or {}).get("centre"), int | float)
        ),
        None,
    )
    return day_chart(
        [d for d, _ in h],
        {
            "realised recall": _values(h, "realised_recall"),
            "estimated recall": _values(h, "estimated_recall"),
        },
        lines={} if centre is None else {"control chart centre": centre},
        title=f"{config.plant_id}: recall of the deployed model, per data day",
        ylabel="recall",
    )

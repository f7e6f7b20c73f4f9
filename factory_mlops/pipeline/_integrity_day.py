"""Layer 1 for one stored day: the lake's accepted readings and the quarantine -> `IntegrityReport`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pyarrow.parquet as pq

from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore, day_end, load_maintenance
from factory_mlops.monitoring import (
    IntegrityReport,
    IntegrityThresholds,
    integrity_report,
)

#: Columns of a quarantine file the integrity report reads (others are left on disk).
QUARANTINE_COLUMNS = ("timestamp", "machine_id", "reason", "detail")


def day_quarantine(store: ReadingsStore, day: dt.date) -> tuple[pd.DataFrame, int]:
    """Quarantined rows of every ingested source whose timestamp falls on the UTC `day`.

    A quarantine file holds one source file's rejected rows of every day it covers, and a file
    whose rows of a day were all rejected does not list that day in its manifest, so every
    source's quarantine is searched; only the columns the report needs are read.

    Returns:
        (the rows as stored, i.e. strings, with `source_key` added; rows of files whose quarantine
        has no `timestamp` column, which cannot be placed on a day).
    """
    lo = pd.Timestamp(day).tz_localize("UTC")
    hi = lo + pd.Timedelta(days=1)
    frames: list[pd.DataFrame] = []
    unplaced = 0
    for m in store.manifests():
        path = store.quarantine_path(m.key)
        if not path.exists():
            continue
        names = set(pq.read_schema(path).names)
        if "timestamp" not in names:
            unplaced += pq.read_metadata(path).num_rows
            continue
        part = pd.read_parquet(path, columns=[c for c in QUARANTINE_COLUMNS if c in names])
        ts = pd.to_datetime(
            part["timestamp"].astype(str), utc=True, format="ISO8601", errors="coerce"
        )
        part = part.loc[((ts >= lo) & (ts < hi)).to_numpy()]
        if len(part):
            frames.append(part.assign(source_key=m.key))
    if not frames:
        return pd.DataFrame(columns=[*QUARANTINE_COLUMNS, "source_key"]), unplaced
    return pd.concat(frames, ignore_index=True), unplaced


def logged_downtime(config: PlantConfig, home: FactoryHome, day: dt.date) -> pd.DataFrame:
    """Downtime the maintenance log (as known at the day's end) explains: each failure until its
    machine's next repair entry, or for its `downtime_hours` when no repair is logged yet."""
    end = day_end(day)
    log = load_maintenance(config, home, as_of=end)
    rows = []
    if len(log) and "event" in log.columns:
        for mid, g in log.sort_values("event_time").groupby(log["machine_id"].astype(str)):
            events = g["event"].astype(str).tolist()
            times = g["event_time"].tolist()
            hours = (
                g["downtime_hours"].tolist()
                if "downtime_hours" in g.columns
                else [float("nan")] * len(g)
            )
            for i, ev in enumerate(events):
                if ev != "failure":
                    continue
                nxt = next(
                    (times[j] for j in range(i + 1, len(events)) if events[j] == "repair"), None
                )
                stop = (
                    nxt
                    if nxt is not None
                    else (
                        times[i] + pd.Timedelta(hours=float(hours[i]))
                        if pd.notna(hours[i])
                        else None
                    )
                )
                if stop is not None:
                    rows.append({"machine_id": mid, "start": times[i], "end": stop})
    return pd.DataFrame(rows, columns=["machine_id", "start", "end"])


def day_integrity(
    config: PlantConfig,
    home: FactoryHome,
    day: dt.date,
    thresholds: IntegrityThresholds | None = None,
) -> IntegrityReport:
    """Integrity of the plant's readings of `day` as stored: accepted rows and quarantined rows.

    The accepted rows of every source file covering the day are judged, including files the
    contract blocked (integrity is about what arrived); the notes name blocked sources and
    quarantined rows that cannot be placed on any day (a file rejected whole without timestamps).

    Args:
        config: The plant.
        home: The factory_mlops home holding the lake and the quarantine.
        day: The UTC day.
        thresholds: The limits; None = the plant's `monitoring.integrity`.
    """
    store = ReadingsStore(home, config.plant_id)
    accepted = store.read_day(day)
    quarantined, unplaced = day_quarantine(store, day)
    report = integrity_report(
        config, day, accepted, quarantined, thresholds, downtime=logged_downtime(config, home, day)
    )
    status = store.day_status(day)
    notes = list(report.notes)
    blocked = [s["key"] for s in status["sources"] if not s["passed"]]
    notes.append(
        f"{len(status['sources'])} source file(s) brought accepted rows for the day"
        + (f"; blocked by the data contract: {', '.join(blocked)}" if blocked else "")
    )
    if unplaced:
        notes.append(
            f"{unplaced} quarantined rows of files without a timestamp column cannot be placed on a day"
        )
    return dataclasses.replace(report, notes=notes)

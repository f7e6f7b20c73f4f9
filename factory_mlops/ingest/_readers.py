"""Readers for landing-zone files: the maintenance log (readings go through `factory_mlops.sources`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factory_mlops.errors import ContractError
from factory_mlops.fileio import sha256_file

MAINTENANCE_COLUMNS = [
    "event_time",
    "reported_at",
    "machine_id",
    "event",
    "failure_type",
    "downtime_hours",
]


#: Hex sha256 of a file's content (the run key of a landing file); `factory_mlops.fileio.sha256_file`.
file_sha256 = sha256_file


def read_maintenance_csv(path: Path) -> pd.DataFrame:
    """Read a maintenance-log CSV into typed columns (UTC times, float downtime).

    A blank `downtime_hours` is unknown and reads as NaN, never as 0 h: a failure without a logged
    repair then explains no downtime instead of a zero-length one. An optional `end_time` column
    makes a failure an interval (an anomaly from `event_time` to `end_time`; blank = an instant):
    the rows inside it are labelled positive and the interval is one failure episode.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: empty maintenance log (not even a header)") from None
    missing = [c for c in MAINTENANCE_COLUMNS if c not in df.columns]
    if missing:
        raise ContractError(
            f"{path}: maintenance log lacks columns {missing}; expected {MAINTENANCE_COLUMNS}"
        )
    out = pd.DataFrame(
        {
            "event_time": pd.to_datetime(df["event_time"], utc=True, format="ISO8601"),
            "reported_at": pd.to_datetime(df["reported_at"], utc=True, format="ISO8601"),
            "machine_id": df["machine_id"].astype(str),
            "event": df["event"].astype(str),
            "failure_type": df["failure_type"].astype(str),
            "downtime_hours": pd.to_numeric(
                df["downtime_hours"].mask(df["downtime_hours"] == "")
            ).astype("float64"),
        }
    )
    if "end_time" in df.columns:
        end = pd.to_datetime(
            df["end_time"].mask(df["end_time"].str.strip() == ""), utc=True, format="ISO8601"
        )
        before = end.notna() & (end < out["event_time"])
        if before.any():
            i = int(before.to_numpy().argmax())
            raise ContractError(
                f"{path}: row {i + 2} ends (end_time {df['end_time'].iloc[i]}) before it starts "
                f"(event_time {df['event_time'].iloc[i]}); fix end_time or leave it blank"
            )
        out["end_time"] = end
    bad = sorted(set(out["event"]) - {"failure", "repair"})
    if bad:
        raise ContractError(
            f"{path}: unknown maintenance event kinds {bad}; expected 'failure' or 'repair'"
        )
    return out

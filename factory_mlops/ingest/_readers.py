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
    repair then explains no downtime instead of a zero-length one.
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
    bad = sorted(set(out["event"]) - {"failure", "repair"})
    if bad:
        raise ContractError(
            f"{path}: unknown maintenance event kinds {bad}; expected 'failure' or 'repair'"
        )
    return out

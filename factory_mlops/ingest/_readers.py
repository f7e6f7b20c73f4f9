"""Readers for landing-zone files: historian CSV exports and the maintenance log."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pandas as pd

from factory_mlops.errors import ContractError

MAINTENANCE_COLUMNS = ["event_time", "reported_at", "machine_id", "event", "failure_type", "downtime_hours"]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_readings_csv(path: Path) -> pd.DataFrame:
    """Read a historian CSV export with every column as text (the contract does the typing).

    Raises ContractError (with the reason) when the file cannot be parsed as CSV at all.
    """
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: file not found; expected a historian export for this day")
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise ContractError(f"{path}: binary content (NUL bytes) — not a CSV export")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: empty file (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise ContractError(f"{path}: cannot parse as CSV: {exc}") from None


def read_maintenance_csv(path: Path) -> pd.DataFrame:
    """Read a maintenance-log CSV into typed columns (UTC times, float downtime)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: empty maintenance log (not even a header)") from None
    missing = [c for c in MAINTENANCE_COLUMNS if c not in df.columns]
    if missing:
        raise ContractError(f"{path}: maintenance log lacks columns {missing}; expected {MAINTENANCE_COLUMNS}")
    out = pd.DataFrame(
        {
            "event_time": pd.to_datetime(df["event_time"], utc=True, format="ISO8601"),
            "reported_at": pd.to_datetime(df["reported_at"], utc=True, format="ISO8601"),
            "machine_id": df["machine_id"].astype(str),
            "event": df["event"].astype(str),
            "failure_type": df["failure_type"].astype(str),
            "downtime_hours": pd.to_numeric(df["downtime_hours"].replace("", "0")),
        }
    )
    bad = sorted(set(out["event"]) - {"failure", "repair"})
    if bad:
        raise ContractError(f"{path}: unknown maintenance event kinds {bad}; expected 'failure' or 'repair'")
    return out

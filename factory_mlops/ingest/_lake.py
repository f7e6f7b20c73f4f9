"""The plant's data lake: one Parquet file per table and day, written atomically."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from factory_mlops.fileio import atomic_path, atomic_write_bytes
from factory_mlops.home import FactoryHome


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


class Lake:
    """Parquet partitions under `<home>/lake/<plant>/<table>/<YYYY-MM-DD>.parquet`.

    Re-writing a partition replaces it as a whole, so re-ingesting a day is idempotent.
    """

    def __init__(self, home: FactoryHome, plant_id: str) -> None:
        self.home = home
        self.plant_id = plant_id

    def path(self, table: str, day: dt.date) -> Path:
        return self.home.lake(self.plant_id, table) / f"{day.isoformat()}.parquet"

    def write(self, table: str, day: dt.date, frame: pd.DataFrame) -> Path:
        path = self.path(table, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
        return path

    def exists(self, table: str, day: dt.date) -> bool:
        return self.path(table, day).exists()

    def read(self, table: str, day: dt.date) -> pd.DataFrame:
        path = self.path(table, day)
        if not path.exists():
            raise FileNotFoundError(
                f"{self.plant_id}: no '{table}' partition for {day} at {path}; materialize it first"
            )
        return pd.read_parquet(path)

    def days(self, table: str) -> list[dt.date]:
        folder = self.home.lake(self.plant_id, table)
        if not folder.exists():
            return []
        return sorted(dt.date.fromisoformat(p.stem) for p in folder.glob("*.parquet"))

    def read_range(
        self,
        table: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        days: list[dt.date] | None = None,
    ) -> pd.DataFrame:
        """Concatenate the existing partitions with start <= day <= end (or exactly `days`)."""
        chosen = (
            days
            if days is not None
            else [
                d
                for d in self.days(table)
                if (start is None or d >= start) and (end is None or d <= end)
            ]
        )
        frames = [pd.read_parquet(self.path(table, d)) for d in chosen if self.exists(table, d)]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    # ---- JSON side-cars (contract reports, drift reports) --------------------------------------
    def json_path(self, table: str, day: dt.date) -> Path:
        return self.home.lake(self.plant_id, table) / f"{day.isoformat()}.json"

    def write_json(self, table: str, day: dt.date, payload: dict[str, Any]) -> Path:
        path = self.json_path(table, day)
        _atomic_write_bytes(path, json.dumps(payload, indent=2, default=str).encode())
        return path

    def read_json(self, table: str, day: dt.date) -> dict[str, Any] | None:
        path = self.json_path(table, day)
        return json.loads(path.read_text()) if path.exists() else None

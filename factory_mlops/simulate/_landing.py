"""Historian-style daily CSV exports of a simulated plant (what lands in `landing/<plant>/`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from factory_mlops.fileio import atomic_path
from factory_mlops.simulate._plant import SimulatedPlant

FLOAT_FORMAT = "%.6g"
"""Sensor values and downtime: at most 6 significant digits, no trailing zeros."""


def _iso_utc(ts: pd.Series) -> np.ndarray:
    """`2026-06-01T00:01:00Z` strings for a tz-aware UTC series (whole seconds)."""
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(naive, unit="s"), "Z").astype(object)


def _write_atomic(path: Path, frame: pd.DataFrame) -> None:
    """Write `frame` as CSV to `path` atomically (`factory_mlops.fileio.atomic_path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False, na_rep="", float_format=FLOAT_FORMAT, lineterminator="\n")


def write_landing_files(sim: SimulatedPlant, landing_root: Path, days: Iterable[int]) -> list[Path]:
    """Write the historian exports of the given days under `landing_root`.

    For each day: `readings/<YYYY-MM-DD>.csv` (timestamp as ISO 8601 UTC with a `Z`, machine_id,
    then the sensors; empty = missing) and `maintenance/<YYYY-MM-DD>.csv` (entries *reported* that
    day; header only when there are none). Each file is replaced atomically.

    Args:
        sim: The simulated plant.
        landing_root: The plant's landing folder (e.g. `FactoryHome.landing(plant).parent`).
        days: Day indices to write (0 .. sim.days - 1).

    Returns:
        The paths written, readings then maintenance for each day, in the order of `days`.

    Raises:
        ValueError: If a day is outside the simulation.
    """
    landing_root = Path(landing_root)
    written: list[Path] = []
    for day in days:
        readings, maintenance = sim.day_slice(day)
        stamp = sim.date_of(day).isoformat()

        readings = readings.copy()
        readings["timestamp"] = _iso_utc(readings["timestamp"])
        path = landing_root / "readings" / f"{stamp}.csv"
        _write_atomic(path, readings)
        written.append(path)

        maintenance = maintenance.copy()
        for col in ("event_time", "reported_at"):
            maintenance[col] = _iso_utc(maintenance[col])
        path = landing_root / "maintenance" / f"{stamp}.csv"
        _write_atomic(path, maintenance)
        written.append(path)
    return written

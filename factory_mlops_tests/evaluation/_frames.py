"""Tiny hand-checkable holdouts shared by the evaluation tests."""

from __future__ import annotations

import pandas as pd

DAY = "2026-06-01 "


def rows(spec: dict[str, list[str]]) -> pd.DataFrame:
    """Feature rows: machine -> list of "HH:MM" times on one day (UTC)."""
    parts = [
        pd.DataFrame(
            {"machine_id": m, "timestamp": pd.to_datetime([DAY + t for t in ts], utc=True)}
        )
        for m, ts in spec.items()
    ]
    return pd.concat(parts, ignore_index=True)


def maint(events: list[tuple[str, str]]) -> pd.DataFrame:
    """Failure events: (machine, "HH:MM") on the same day."""
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime([DAY + t for _, t in events], utc=True),
            "machine_id": [m for m, _ in events],
            "event": "failure",
        }
    )

"""The lake's day calendar: a partition `day` holds the data time `[day 00:00, next day 00:00)` UTC."""

from __future__ import annotations

import datetime as dt

import pandas as pd


def day_bounds(day: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def day_end(day: dt.date) -> pd.Timestamp:
    """Data time at which a day's evidence is complete: the next midnight, UTC."""
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)

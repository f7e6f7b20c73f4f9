"""The plant's maintenance events as the lake holds them: the reported log plus label-derived events."""

from __future__ import annotations

import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome
from factory_mlops.ingest._lake import Lake
from factory_mlops.ingest._store import ReadingsStore
from factory_mlops.ingest._tables import MAINTENANCE


def load_maintenance(
    config: PlantConfig, home: FactoryHome, *, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The plant's failure/repair events: the maintenance log plus events derived from labels.

    With `as_of`, only events reported by then (`reported_at <= as_of`; rows without a report time
    count as reported when they happened): the log as it was known at that time. Training uses the
    log as of its data end, so a model can be reproduced later from the same lake.
    """
    frames = [
        f
        for f in (
            Lake(home, config.plant_id).read_range(MAINTENANCE),
            ReadingsStore(home, config.plant_id).events(),
        )
        if len(f)
    ]
    log = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if log.empty:
        return pd.DataFrame(
            {
                "event_time": pd.Series(dtype="datetime64[ns, UTC]"),
                "machine_id": pd.Series(dtype=object),
                "event": pd.Series(dtype=object),
            }
        )
    log = log.drop_duplicates(["event_time", "machine_id", "event"]).sort_values(
        "event_time", ignore_index=True
    )
    if as_of is not None:
        known = (
            log["reported_at"].fillna(log["event_time"])
            if "reported_at" in log.columns
            else log["event_time"]
        )
        log = log[known <= as_of].reset_index(drop=True)
    return log

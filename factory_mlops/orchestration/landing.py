"""The landing-zone sensor: a new or changed historian export -> an ingest run for its plant and days."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg

from factory_mlops import pipeline
from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource

if TYPE_CHECKING:  # what dg.define_asset_job returns; `dagster` does not export the class
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

ASSET_PARTITION_RANGE_START = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END = "dagster/asset_partition_range_end"


def landing_run_requests(
    config: PlantConfig,
    home: FactoryHome,
    partitions: dg.PartitionsDefinition,
    *,
    today: dt.date | None = None,
) -> list[dg.RunRequest]:
    """One RunRequest per landing file that still needs ingesting; run_key = the file's sha256.

    Dagster drops a RunRequest whose run_key it has seen, so each version of a file is ingested
    once; a corrected file (new checksum) is ingested again. The run covers the UTC days the file
    holds; a file whose days cannot be read (garbage, wrong separator) runs for the day it arrived,
    so its rejection shows on that partition.
    """
    keys = set(partitions.get_partition_keys())
    first, last = min(keys), max(keys)
    requests = []
    for path, (sha, days) in pipeline.pending_landing_files(config, home).items():
        day_keys = sorted(d.isoformat() for d in days if d.isoformat() in keys)
        if not day_keys:
            arrived = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date().isoformat()
            day_keys = [min(max(arrived, first), last)]
        tags = {T.PLANT: config.plant_id, T.LANDING_FILE: str(path), T.LANDING_SHA256: sha}
        if len(day_keys) == 1:
            requests.append(dg.RunRequest(run_key=sha, partition_key=day_keys[0], tags=tags))
        else:
            requests.append(
                dg.RunRequest(
                    run_key=sha,
                    tags={
                        **tags,
                        ASSET_PARTITION_RANGE_START: day_keys[0],
                        ASSET_PARTITION_RANGE_END: day_keys[-1],
                    },
                )
            )
    return requests


def build_landing_sensor(
    config: PlantConfig,
    ingest_job: dg.JobDefinition | UnresolvedAssetJobDefinition,
    partitions: dg.PartitionsDefinition,
) -> dg.SensorDefinition:
    p = config.plant_id

    @dg.sensor(
        name=f"{p}__landing_sensor",
        job=ingest_job,
        minimum_interval_seconds=60,
        description=f"Ingests each new or changed historian export in landing/{p}/readings once (run_key = sha256).",
    )
    def landing_sensor(
        context: dg.SensorEvaluationContext, factory_home: FactoryHomeResource
    ) -> dg.SensorResult | dg.SkipReason:
        requests = landing_run_requests(config, factory_home.factory_home(), partitions)
        if not requests:
            return dg.SkipReason(f"no new or changed file in landing/{p}/readings")
        return dg.SensorResult(run_requests=requests)

    return landing_sensor

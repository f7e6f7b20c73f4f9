"""The landing-zone sensor on a real Dagster instance: a file -> one ingest run (run_key = sha256),
ingested once; a corrected file runs again; a garbage file is rejected on its arrival day and
blocks only its own plant."""

import datetime as dt
import shutil

import dagster as dg
import pytest

from factory_mlops.config import load_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore, file_sha256
from factory_mlops.orchestration import build_plant_definitions
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.simulate import write_landing_files
from factory_mlops_tests.conftest import PLANTS


def _tick(defs: dg.Definitions, plant: str, instance: dg.DagsterInstance, home: FactoryHome):
    sensor = defs.resolve_sensor_def(f"{plant}__landing_sensor")
    ctx = dg.build_sensor_context(
        instance=instance, resources={"factory_home": FactoryHomeResource(home=str(home.root))}
    )
    return sensor(ctx)


def _run(
    defs: dg.Definitions, plant: str, instance: dg.DagsterInstance, rr: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(T.job_names(plant)["ingest"])
    return job.execute_in_process(
        instance=instance, tags=rr.tags, partition_key=rr.partition_key, raise_on_error=False
    )


@pytest.fixture
def env(tmp_path, plant_a_config, plant_a_sim):
    home = FactoryHome(tmp_path / "home").ensure()
    defs = build_plant_definitions(plant_a_config, home=home.root)
    with dg.instance_for_test() as instance:
        yield home, defs, instance, plant_a_sim


def test_new_file_is_ingested_once_and_a_corrected_file_again(env):
    home, defs, instance, sim = env
    write_landing_files(sim, home.landing_root("plant_a"), [0])
    path = home.landing("plant_a", "readings") / f"{sim.date_of(0).isoformat()}.csv"
    first = _tick(defs, "plant_a", instance, home)
    assert len(first.run_requests) == 1
    rr = first.run_requests[0]
    assert rr.run_key == file_sha256(path)
    assert rr.partition_key == sim.date_of(0).isoformat()
    assert rr.tags[T.LANDING_FILE] == str(path)
    result = _run(defs, "plant_a", instance, rr)
    assert result.success
    mat = result.asset_materializations_for_node("plant_a__validated_readings")[0]
    assert (
        mat.metadata["rows_received"].value
        == mat.metadata["rows_accepted"].value + mat.metadata["rows_quarantined"].value
    )
    assert ReadingsStore(home, "plant_a").passed_days() == [sim.date_of(0)]
    # Nothing new: no request. (Dagster would also drop a repeated run_key.)
    again = _tick(defs, "plant_a", instance, home)
    assert isinstance(again, dg.SkipReason)
    # A corrected file (new content, same name) gets a new run key and is ingested again.
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-5]) + "\n")
    corrected = _tick(defs, "plant_a", instance, home)
    assert len(corrected.run_requests) == 1
    assert corrected.run_requests[0].run_key == file_sha256(path) != rr.run_key
    assert _run(defs, "plant_a", instance, corrected.run_requests[0]).success
    assert len(ReadingsStore(home, "plant_a").read_day(sim.date_of(0))) == len(text) - 1 - 5


def test_a_multi_day_file_runs_over_its_partition_range(env):
    home, defs, instance, sim = env
    tmp = home.root / "tmp_landing"
    write_landing_files(sim, tmp, [0, 1, 2])
    import pandas as pd

    frames = [
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((tmp / "readings").glob("*.csv"))
    ]
    target = home.landing("plant_a", "readings") / "historian_export_june.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(target, index=False)
    shutil.rmtree(tmp)
    rr = _tick(defs, "plant_a", instance, home).run_requests[0]
    assert rr.partition_key is None
    assert rr.tags["dagster/asset_partition_range_start"] == sim.date_of(0).isoformat()
    assert rr.tags["dagster/asset_partition_range_end"] == sim.date_of(2).isoformat()
    result = _run(defs, "plant_a", instance, rr)
    assert result.success
    assert ReadingsStore(home, "plant_a").passed_days() == [sim.date_of(i) for i in range(3)]


def test_garbage_file_fails_the_check_of_its_arrival_day_only(env):
    home, defs, instance, _ = env
    landing = home.landing("plant_a", "readings")
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "garbage.csv").write_bytes(b"\x00\xff" * 500)
    rr = _tick(defs, "plant_a", instance, home).run_requests[0]
    assert rr.partition_key is not None
    result = _run(defs, "plant_a", instance, rr)
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 1 and not checks[0].passed
    assert "binary_content" in checks[0].metadata["errors"].value
    # features of the blocked day were not computed (blocking check)
    assert not result.asset_materializations_for_node("plant_a__sensor_features")
    # another plant's landing zone and lake are untouched
    b = load_plant_config(PLANTS / "plant_b" / "plant.yaml")
    assert ReadingsStore(home, "plant_b").days() == []
    b_defs = build_plant_definitions(b, home=home.root)
    assert isinstance(_tick(b_defs, "plant_b", instance, home), dg.SkipReason)
    assert (
        dt.date.fromisoformat(rr.partition_key)
        >= load_plant_config(PLANTS / "plant_a" / "plant.yaml").first_partition
    )

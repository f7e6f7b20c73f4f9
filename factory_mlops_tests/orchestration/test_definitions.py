"""Every plant's definitions load; the workspace validates; the library core has no Dagster."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from factory_mlops.config import discover_plants, load_plant_config
from factory_mlops.orchestration import build_plant_definitions
from factory_mlops_tests.conftest import PLANTS, REPO

CORE = [
    "config",
    "simulate",
    "ingest",
    "contracts",
    "features",
    "training",
    "evaluation",
    "registry",
    "bundle",
    "deploy",
    "edge",
    "monitoring",
    "pipeline",
    "lineage",
    "home",
    "fileio",
    "deployment",
    "fleet",
]


@pytest.mark.parametrize("plant", sorted(discover_plants(PLANTS)))
def test_plant_definitions_load(plant, tmp_path):
    defs = build_plant_definitions(load_plant_config(PLANTS / plant / "plant.yaml"), home=tmp_path)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        f"{plant}/validated_readings",
        f"{plant}/drift_report",
        f"{plant}/edge_deployment",
    } <= keys
    assert all(k.startswith(f"{plant}/") for k in keys)
    assert defs.resolve_job_def(f"{plant}__retrain_job")
    assert defs.resolve_sensor_def(f"{plant}__drift_retrain_sensor")
    assert defs.resolve_schedule_def(f"{plant}__calendar_retrain")


def test_fleet_location_loads():
    from factory_mlops.orchestration import build_fleet_definitions

    defs = build_fleet_definitions(PLANTS)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"fleet/plant_scorecard"}


def test_workspace_validates(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "FACTORY_MLOPS_HOME": str(tmp_path / "home"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_library_core_imports_without_dagster():
    code = (
        "import sys\n"
        "for name in ('dagster', 'dagster_webserver'):\n    sys.modules[name] = None\n"
        + "".join(f"import factory_mlops.{m}\n" for m in CORE)
        + "import factory_mlops\nprint('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]

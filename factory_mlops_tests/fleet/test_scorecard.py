"""The plant scorecard on a real home: plant_a trained, served, monitored (and the other plants of
the repository in the same home, with nothing recorded: n/a, never 0), and the `fleet` Dagster
location that shows it as a table."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from factory_mlops.audit import AuditLog
from factory_mlops.config import PlantConfig, load_plant_config
from factory_mlops.fleet import SCORECARD_COLUMNS, PlantScorecard, fleet_scorecard
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import DRIFT_REPORTS, LAYER_TABLES, ReadingsStore
from factory_mlops.orchestration import build_fleet_definitions
from factory_mlops_tests.conftest import PLANTS
from factory_mlops_tests.shadow_home import FIRST_STREAM, ingest, shadow_config

STREAM = 4


INSTANCE = ("plant_id", "name", "machines", "edge", "simulation")


def templated_plant_a(root: Path) -> Path:
    """plant_a split into a template `injection_moulding_press` (its recipe) and an instance
    plant.yaml (plant_id, name, machines, edge, simulation) that extends it."""
    raw = yaml.safe_load((PLANTS / "plant_a" / "plant.yaml").read_text())
    template = {k: v for k, v in raw.items() if k not in INSTANCE}
    plant = {"extends": "injection_moulding_press", **{k: raw[k] for k in INSTANCE}}
    (root / "fleet" / "templates").mkdir(parents=True)
    (root / "fleet" / "templates" / "injection_moulding_press.yaml").write_text(
        yaml.safe_dump(template, sort_keys=False)
    )
    (root / "plants" / "plant_a").mkdir(parents=True)
    path = root / "plants" / "plant_a" / "plant.yaml"
    path.write_text(yaml.safe_dump(plant, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def served_home(
    plant_a_config: PlantConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PlantConfig, FactoryHome]:
    """plant_a, as an instance of a template: v1 trained on 18 days, then 4 days ingested, scored
    and monitored (all layers)."""
    from factory_mlops import pipeline
    from factory_mlops.registry import ModelRegistry
    from factory_mlops.simulate import simulate_plant, write_landing_files

    root = tmp_path_factory.mktemp("scorecard")
    templated = load_plant_config(templated_plant_a(root))
    assert templated.extends == "injection_moulding_press"
    assert templated.model_dump(mode="json") == plant_a_config.model_dump(mode="json")
    config = shadow_config(templated)
    home = FactoryHome(root / "home").ensure()
    sim = simulate_plant(config)
    days = [sim.date_of(i) for i in range(FIRST_STREAM + STREAM)]
    write_landing_files(sim, home.landing_root(config.plant_id), range(len(days)))
    ingest(config, home, days[:FIRST_STREAM])
    v1 = pipeline.run_retrain(
        config, home, ModelRegistry.from_home(home), trigger="initial", reason="first model"
    )
    assert v1.promoted
    for d in days[FIRST_STREAM:]:
        ingest(config, home, [d])
        pipeline.score_day(config, home, d)
        pipeline.integrity_for_day(config, home, d)
        pipeline.drift_for_day(config, home, d)
        pipeline.impact_for_day(config, home, d)
    return config, home


def _latest(home: FactoryHome, table: str) -> dict:
    folder = home.lake("plant_a", table)
    return json.loads(sorted(folder.glob("*.json"))[-1].read_text())


def test_the_served_plants_row_is_what_its_home_records(served_home) -> None:
    from factory_mlops.registry import ModelRegistry

    _, home = served_home
    rows = {r.plant_id: r for r in fleet_scorecard(PLANTS, home)}
    a = rows["plant_a"]
    champ = ModelRegistry.from_home(home).get_alias("plant_a", "champion")
    assert a.champion_version == champ.version == 1
    assert a.holdout_pr_auc == pytest.approx(champ.metrics["pr_auc"])
    assert a.holdout_failure_recall == pytest.approx(champ.metrics["failure_recall"])
    assert a.holdout_rmse is None  # a classifier has no RUL error
    assert a.champion_age_days is not None and 0 <= a.champion_age_days < 1
    drift = _latest(home, DRIFT_REPORTS)
    assert (a.drift_severity, a.drift_day) == (drift["severity"], drift["day"])
    assert a.integrity_severity == _latest(home, LAYER_TABLES["integrity"])["severity"]
    impact = _latest(home, LAYER_TABLES["control_chart"])
    assert a.failures_caught == impact.get("failures_caught")
    assert a.failures_missed == impact.get("failures_missed")
    audit = AuditLog.for_home(home)
    assert a.retrains == len(audit.entries(plant="plant_a", kinds="gate_decision")) == 1
    assert a.rollbacks == 0
    manifests = ReadingsStore(home, "plant_a").manifests()
    assert a.contract_pass_rate == sum(m.passed for m in manifests) / len(manifests)
    assert a.problem is None


def test_a_model_of_a_templated_plant_records_its_template(served_home) -> None:
    import hashlib

    from factory_mlops.registry import ModelRegistry

    config, home = served_home
    v1 = ModelRegistry.from_home(home).get_version("plant_a", 1)
    template = Path(config.template_path or "")
    assert v1.tags["template"] == "injection_moulding_press"
    assert v1.tags["template_sha256"] == hashlib.sha256(template.read_bytes()).hexdigest()


def test_what_a_home_does_not_record_is_none_and_shown_as_na(served_home) -> None:
    _, home = served_home
    rows = {r.plant_id: r for r in fleet_scorecard(PLANTS, home)}
    assert set(rows) == {"plant_a", "plant_b", "plant_c", "ai4i_mill", "cmapss_fd002"}
    fd = rows["cmapss_fd002"]
    assert fd.equipment == "turbofan_engine"
    for name in (
        "champion_version",
        "champion_age_days",
        "holdout_rmse",
        "drift_severity",
        "failures_caught",
        "contract_pass_rate",
    ):
        assert getattr(fd, name) is None, name
        assert fd.display()[name] == "n/a"
    assert fd.retrains == 0 and fd.display()["retrains"] == "0"  # the log exists: a true zero
    empty = fleet_scorecard(PLANTS, FactoryHome(home.root.parent / "nothing"))
    assert all(r.retrains is None and r.display()["retrains"] == "n/a" for r in empty)


def test_a_broken_plant_is_a_row_with_its_problem(tmp_path: Path, served_home) -> None:
    _, home = served_home
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "plant.yaml").write_text("plant_id: bad\nmachines: []\n")
    [row] = fleet_scorecard(tmp_path, home)
    assert row == PlantScorecard(plant_id="bad", problem=row.problem)
    assert row.problem and "invalid plant config" in row.problem


def test_the_fleet_location_shows_the_scorecard_table(served_home) -> None:
    _, home = served_home
    defs = build_fleet_definitions(PLANTS, home=home.root)
    dg.Definitions.validate_loadable(defs)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process()
    assert result.success
    [mat] = result.asset_materializations_for_node("fleet__plant_scorecard")
    table = mat.metadata["scorecard"]
    assert [c.name for c in table.schema.columns] == list(SCORECARD_COLUMNS)
    by_plant = {r.data["plant_id"]: r.data for r in table.records}
    assert by_plant["plant_a"]["champion_version"] == "1"
    assert by_plant["cmapss_fd002"]["champion_version"] == "n/a"
    assert mat.metadata["plants"].value == 5
    # the plotted numbers: present where the home records them, absent (not 0) where not
    assert mat.metadata["plant_a/holdout_pr_auc"].value == pytest.approx(
        float(by_plant["plant_a"]["holdout_pr_auc"]), rel=1e-2
    )
    assert not [k for k in mat.metadata if k.startswith("cmapss_fd002/")]

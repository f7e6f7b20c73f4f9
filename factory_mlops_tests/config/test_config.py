"""PlantConfig: the demo plants load; bad files fail with the file, the key and the expected form."""

from pathlib import Path

import pytest
import yaml

from factory_mlops.config import discover_plants, load_plant_config, parse_plant_config
from factory_mlops.errors import PlantConfigError
from factory_mlops_tests.conftest import PLANTS


def _raw(plant: str = "plant_a") -> dict:
    return yaml.safe_load((PLANTS / plant / "plant.yaml").read_text())


def test_demo_plants_load_with_different_equipment():
    found = discover_plants(PLANTS)
    assert set(found) >= {"plant_a", "plant_b", "plant_c"}
    configs = {p: load_plant_config(path) for p, path in found.items()}
    assert len({c.equipment for c in configs.values()}) == len(configs)
    assert configs["plant_a"].sensor("barrel_temp_c").unit == "degC"
    assert [e.kind for e in configs["plant_a"].simulation.events] == [
        "seasonal_ambient",
        "resin_change",
    ]


def test_unknown_key_names_file_and_key(tmp_path: Path):
    raw = _raw()
    raw["model"]["learning_rat"] = 0.1
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PlantConfigError) as exc:
        load_plant_config(path)
    assert str(path) in str(exc.value)
    assert "model.learning_rat: unknown key" in str(exc.value)


def test_wrong_type_names_key_and_value():
    raw = _raw()
    raw["sensors"][1]["cadence_s"] = "often"
    with pytest.raises(PlantConfigError) as exc:
        parse_plant_config(raw, "x.yaml")
    assert "sensors[1].cadence_s" in str(exc.value)
    assert "'often'" in str(exc.value)


def test_window_not_multiple_of_step_is_refused():
    raw = _raw()
    raw["features"]["windows_minutes"] = [90]
    with pytest.raises(PlantConfigError, match="not multiples of step_minutes=60"):
        parse_plant_config(raw, "x.yaml")


def test_simulation_must_cover_exactly_the_sensors():
    raw = _raw()
    del raw["simulation"]["sensors"]["vibration_mm_s"]
    with pytest.raises(PlantConfigError, match=r"missing \['vibration_mm_s'\]"):
        parse_plant_config(raw, "x.yaml")


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(PlantConfigError, match="cannot read plant config"):
        load_plant_config(tmp_path / "nope.yaml")
    bad = tmp_path / "plant.yaml"
    bad.write_text("plant_id: [unclosed")
    with pytest.raises(PlantConfigError, match="not valid YAML"):
        load_plant_config(bad)


def test_contract_version_changes_with_the_contract(plant_a_config):
    raw = _raw()
    raw["sensors"][0]["max"] = 330
    assert parse_plant_config(raw).contract_version() != plant_a_config.contract_version()


def test_severity_override_names_a_known_rule():
    import yaml

    from factory_mlops.config import parse_plant_config
    from factory_mlops.errors import PlantConfigError
    from factory_mlops_tests.conftest import PLANTS

    data = yaml.safe_load((PLANTS / "ai4i_mill" / "plant.yaml").read_text())
    data["contract"]["severity"]["stuk:air_temp_c"] = "off"
    with pytest.raises(PlantConfigError, match=r"unknown rule\(s\) \['stuk:air_temp_c'\]"):
        parse_plant_config(data)
    data["contract"]["severity"] = {"stuck:no_such_sensor": "off"}
    with pytest.raises(PlantConfigError, match="no_such_sensor"):
        parse_plant_config(data)
    data["contract"]["severity"] = {
        "stuck": False,
        "band:label_rate": "error",
    }  # YAML `off` is False
    assert parse_plant_config(data).contract.severity == {
        "stuck": "off",
        "band:label_rate": "error",
    }

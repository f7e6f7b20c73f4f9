"""Templates per equipment type: `extends:` merges a plant.yaml onto fleet/templates/<type>.yaml.

The repository's plants that moved onto a template load to exactly the config they had before
(their pre-template plant.yaml is kept under pre_template/); plants without `extends` are
untouched; the merge rules (mappings deep, lists replace, sensors by name, null is a value) hold;
errors name the file (template or plant.yaml) and the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from factory_mlops.config import (
    FLEET_ENV,
    discover_plants,
    discover_templates,
    find_template,
    load_plant_config,
    parse_plant_config,
    template_dirs,
)
from factory_mlops.errors import PlantConfigError
from factory_mlops_tests.conftest import PLANTS, REPO

PRE_TEMPLATE = Path(__file__).parent / "pre_template"
TEMPLATE = REPO / "fleet" / "templates" / "turbofan_engine.yaml"

#: The repository's plants that moved onto a template, with the template they extend.
MOVED = {"cmapss_fd002": "turbofan_engine"}


@pytest.fixture(autouse=True)
def _no_fleet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FLEET_ENV, raising=False)


def _write(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def _site(tmp_path: Path, plant: dict, template: dict | None = None) -> Path:
    """`tmp/plants/<id>/plant.yaml` beside `tmp/fleet/templates/turbofan_engine.yaml`."""
    tdata = template if template is not None else yaml.safe_load(TEMPLATE.read_text())
    _write(tmp_path / "fleet" / "templates" / "turbofan_engine.yaml", tdata)
    return _write(tmp_path / "plants" / plant["plant_id"] / "plant.yaml", plant)


def _fd001(**extra: object) -> dict:
    return {
        "extends": "turbofan_engine",
        "plant_id": "fd001",
        "machines": [
            {"range": {"template": "engine_{:03d}", "first": 1, "last": 100}, "line": "fleet"}
        ],
        **extra,
    }


@pytest.mark.parametrize("plant", sorted(MOVED))
def test_a_moved_plant_loads_to_exactly_its_pre_template_config(plant: str) -> None:
    before = load_plant_config(PRE_TEMPLATE / f"{plant}.plant.yaml")
    after = load_plant_config(PLANTS / plant / "plant.yaml")
    assert before.extends is None
    assert after.extends == MOVED[plant]
    assert Path(after.template_path or "") == REPO / "fleet" / "templates" / f"{MOVED[plant]}.yaml"
    assert after.template_sha256 == find_template(MOVED[plant], plants_dir=PLANTS).sha256
    assert after.model_dump(mode="json") == before.model_dump(mode="json")
    assert after.contract_version() == before.contract_version()
    assert after.sensor_names == before.sensor_names  # the template's order is kept
    # and the plant.yaml really holds only its own keys now
    raw = yaml.safe_load((PLANTS / plant / "plant.yaml").read_text())
    assert not {"sensors", "source", "contract", "features", "model"} & set(raw)


def test_plants_without_extends_load_as_before() -> None:
    for plant, path in discover_plants(PLANTS).items():
        raw = yaml.safe_load(path.read_text())
        config = load_plant_config(path)
        if plant in MOVED:
            continue
        assert "extends" not in raw
        assert config.extends is None and config.template_path is None
        assert config == parse_plant_config(raw, str(path))


def test_mappings_merge_deeply_and_the_plant_wins(tmp_path: Path) -> None:
    path = _site(
        tmp_path, _fd001(model={"holdout_days": 3}, contract={"severity": {"spike": "warning"}})
    )
    c = load_plant_config(path)
    assert c.model.holdout_days == 3
    assert c.model.task == "rul" and c.model.rul_cap_hours == 125  # the template's siblings stay
    assert c.contract.severity["spike"] == "warning"
    assert c.contract.severity["stuck:op_tra"] == "off"
    assert c.equipment == "turbofan_engine"  # defaults to the template's name
    assert c.source.readings.columns["t24_lpc_out_k"] == "s2"


def test_lists_replace(tmp_path: Path) -> None:
    c = load_plant_config(_site(tmp_path, _fd001(features={"windows_minutes": [720]})))
    assert c.features.windows_minutes == [720]
    assert c.features.stats == ["mean", "std", "last", "slope", "ewma"]


def test_sensors_merge_by_name_and_new_ones_are_appended(tmp_path: Path) -> None:
    template_names = [s["name"] for s in yaml.safe_load(TEMPLATE.read_text())["sensors"]]
    plant = _fd001(
        sensors=[
            {"name": "extra_k", "unit": "K", "min": 0, "max": 10, "cadence_s": 3600},
            {"name": "op_tra", "max": 101},
        ]
    )
    c = load_plant_config(_site(tmp_path, plant))
    assert c.sensor_names == [*template_names, "extra_k"]
    tra = c.sensor("op_tra")
    assert tra.max == 101 and tra.min == 0 and tra.unit == "pct"  # only `max` was overridden
    assert tra.description == "Operational setting 3 (throttle resolver angle)"


def test_null_is_a_value_not_a_deletion(tmp_path: Path) -> None:
    template = yaml.safe_load(TEMPLATE.read_text())
    template["model"]["recency_half_life_days"] = 5
    c = load_plant_config(_site(tmp_path, _fd001(model={"recency_half_life_days": None}), template))
    assert c.model.recency_half_life_days is None
    other = load_plant_config(_site(tmp_path / "b", _fd001(), template))
    assert other.model.recency_half_life_days == 5


def test_a_wrong_key_in_the_template_names_the_template(tmp_path: Path) -> None:
    template = yaml.safe_load(TEMPLATE.read_text())
    template["model"]["holdout_dayz"] = 4
    path = _site(tmp_path, _fd001(), template)
    with pytest.raises(PlantConfigError) as exc:
        load_plant_config(path)
    msg = str(exc.value)
    tfile = tmp_path / "fleet" / "templates" / "turbofan_engine.yaml"
    assert msg.startswith(f"{path}: invalid plant config (extends turbofan_engine")
    assert f"model.holdout_dayz: unknown key (remove it or check its spelling) [in {tfile}]" in msg


def test_a_wrong_value_in_the_plant_names_the_plant(tmp_path: Path) -> None:
    path = _site(tmp_path, _fd001(features={"step_minutes": -3}))
    with pytest.raises(PlantConfigError) as exc:
        load_plant_config(path)
    line = next(x for x in str(exc.value).splitlines() if "features.step_minutes" in x)
    assert "(got -3)" in line and line.endswith(f"[in {path}]")


def test_unknown_template_lists_the_known_ones(tmp_path: Path) -> None:
    path = _site(tmp_path, {**_fd001(), "extends": "turbofan_engin"})
    with pytest.raises(PlantConfigError) as exc:
        load_plant_config(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: extends: no template 'turbofan_engin'")
    assert "known templates: ['turbofan_engine']" in msg


@pytest.mark.parametrize(
    ("template_extra", "plant_extra", "expected"),
    [
        ({"plant_id": "x"}, {}, "plant_id belong(s) in each plant.yaml, not in a template"),
        ({}, {"extends": ["turbofan_engine"]}, "extends: expected an equipment type in snake_case"),
        ({}, {"sensors": [{"unit": "K"}]}, "sensors[0]: needs a 'name'"),
        ({}, {"sensors": [{"name": "op_tra"}, {"name": "op_tra"}]}, "name 'op_tra' is given twice"),
    ],
)
def test_malformed_templates_and_extends_are_refused_with_the_file(
    tmp_path: Path, template_extra: dict, plant_extra: dict, expected: str
) -> None:
    template = {**yaml.safe_load(TEMPLATE.read_text()), **template_extra}
    path = _site(tmp_path, {**_fd001(), **plant_extra}, template)
    with pytest.raises(PlantConfigError) as exc:
        load_plant_config(path)
    where = str(tmp_path / "fleet" / "templates") if template_extra else str(path)
    assert str(exc.value).startswith(where) and expected in str(exc.value)


def test_extends_in_memory_without_a_template_is_refused() -> None:
    with pytest.raises(PlantConfigError, match="extends: 'turbofan_engine' is resolved when"):
        parse_plant_config(_fd001())


def test_template_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1. beside the plants folder
    path = _site(tmp_path / "site", _fd001(name="beside"))
    assert Path(load_plant_config(path).template_path or "").parent == (
        tmp_path / "site" / "fleet" / "templates"
    )
    # 2. no fleet/ beside the plants: the packaged templates (the installed `fleet` package)
    lone = _write(tmp_path / "lone" / "plants" / "fd001" / "plant.yaml", _fd001())
    assert Path(load_plant_config(lone).template_path or "") == TEMPLATE.resolve()
    assert template_dirs(lone.parent.parent)[-1] == TEMPLATE.parent.resolve()
    # 3. $FACTORY_MLOPS_FLEET (or fleet_dir=) replaces the search: only that folder
    other = tmp_path / "central"
    _write(other / "templates" / "turbofan_engine.yaml", TEMPLATE.read_text())
    monkeypatch.setenv(FLEET_ENV, str(other))
    assert Path(load_plant_config(path).template_path or "").parent == other / "templates"
    monkeypatch.delenv(FLEET_ENV)
    assert Path(load_plant_config(lone, fleet_dir=other).template_path or "").parent == (
        other / "templates"
    )
    with pytest.raises(PlantConfigError, match="no template 'turbofan_engine'"):
        load_plant_config(lone, fleet_dir=tmp_path / "empty")
    assert set(discover_templates(lone.parent.parent)) >= {"turbofan_engine"}


def test_find_template_reads_the_file_and_its_sha256() -> None:
    import hashlib

    t = find_template("turbofan_engine", plants_dir=PLANTS)
    assert t.path == TEMPLATE.resolve()
    assert t.sha256 == hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
    assert t.text == TEMPLATE.read_text()
    assert t.data["model"]["task"] == "rul"

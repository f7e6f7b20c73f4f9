"""`fleet diff`: a plant's overrides with the line to delete (and deleting it really resets the key);
`fleet templates record/check`: template changes in the hash-chained audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from factory_mlops.audit import AuditLog
from factory_mlops.cli import main
from factory_mlops.config import FLEET_ENV, discover_templates, load_plant_config
from factory_mlops.fleet import (
    changed_keys,
    plant_template_diff,
    record_template_changes,
    template_statuses,
)
from factory_mlops.home import FactoryHome
from factory_mlops_tests.conftest import PLANTS, REPO

TEMPLATE = REPO / "fleet" / "templates" / "turbofan_engine.yaml"

PLANT = """\
# a second C-MAPSS subset as a new user writes it
extends: turbofan_engine
plant_id: fd001
name: "C-MAPSS FD001"
machines:
  - {range: {template: "engine_{:03d}", first: 1, last: 100}, line: fleet}
sensors:
  - {name: op_tra, max: 101}
  - name: t24_lpc_out_k
    min: 250
    description: "s2, FD001 runs at sea level only"
model:
  holdout_days: 3
features:
  step_minutes: 30
  windows_minutes: [360, 1440]
"""


@pytest.fixture(autouse=True)
def _no_fleet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FLEET_ENV, raising=False)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp/plants/fd001/plant.yaml beside tmp/fleet/templates/turbofan_engine.yaml; returns tmp."""
    (tmp_path / "fleet" / "templates").mkdir(parents=True)
    (tmp_path / "fleet" / "templates" / "turbofan_engine.yaml").write_text(TEMPLATE.read_text())
    (tmp_path / "plants" / "fd001").mkdir(parents=True)
    (tmp_path / "plants" / "fd001" / "plant.yaml").write_text(PLANT)
    return tmp_path


def _rows(site: Path) -> dict[str, dict]:
    diff = plant_template_diff(site / "plants" / "fd001" / "plant.yaml")
    return {r.key: r.to_dict() for r in diff.rows}


def test_diff_lists_overrides_repeats_and_the_plants_own_keys(site: Path) -> None:
    rows = _rows(site)
    assert {k for k, r in rows.items() if r["kind"] == "override"} == {
        "sensors[name=op_tra].max",
        "sensors[name=t24_lpc_out_k].min",
        "sensors[name=t24_lpc_out_k].description",
        "model.holdout_days",
        "features.step_minutes",
    }
    assert rows["sensors[name=op_tra].max"] == {
        "key": "sensors[name=op_tra].max",
        "kind": "override",
        "template_value": 110,
        "plant_value": 101,
        "line": 8,
        "reset": "delete line 8",  # the entry holds nothing else: delete it whole
    }
    assert rows["sensors[name=t24_lpc_out_k].min"]["reset"] == "delete line 10"
    assert rows["model.holdout_days"]["reset"] == "delete lines 12-13"  # model: would be empty
    assert rows["features.step_minutes"]["reset"] == "delete line 15"
    assert rows["features.windows_minutes"]["kind"] == "same"
    assert {k for k, r in rows.items() if r["kind"] == "added"} == {"plant_id", "name", "machines"}
    assert rows["machines"]["template_value"] is None and rows["machines"]["reset"] is None


@pytest.mark.parametrize(
    "key",
    [
        "sensors[name=op_tra].max",
        "sensors[name=t24_lpc_out_k].min",
        "model.holdout_days",
        "features.step_minutes",
    ],
)
def test_the_reset_edit_gives_the_template_value_back_and_nothing_else(
    site: Path, key: str
) -> None:
    path = site / "plants" / "fd001" / "plant.yaml"
    before = load_plant_config(path).model_dump(mode="json")
    row = _rows(site)[key]
    first, _, last = (
        row["reset"].removeprefix("delete lines ").removeprefix("delete line ").partition("-")
    )
    lines = PLANT.splitlines(keepends=True)
    del lines[int(first) - 1 : int(last or first)]
    path.write_text("".join(lines))
    after = load_plant_config(path).model_dump(mode="json")
    assert key not in {r for r, v in _rows(site).items() if v["kind"] == "override"}
    # exactly that key changed, and it now holds the template's value
    assert changed_keys(before, after) == [key]
    assert _lookup(after, key) == _lookup(yaml.safe_load(TEMPLATE.read_text()), key)


def _lookup(data: dict, key: str) -> object:
    """The value of a diff key (`sensors[name=op_tra].max`) in a plant.yaml-shaped mapping."""
    value: object = data
    for part in key.replace("]", "").replace("[", ".").split("."):
        if part.startswith("name="):
            value = next(s for s in value if s["name"] == part.removeprefix("name="))  # type: ignore[union-attr]
        else:
            value = value[part]  # type: ignore[index]
    return value


def test_inline_keys_say_what_to_remove_from_the_line(tmp_path: Path, site: Path) -> None:
    path = site / "plants" / "fd001" / "plant.yaml"
    path.write_text(PLANT.replace("{name: op_tra, max: 101}", "{name: op_tra, max: 101, min: 1}"))
    rows = _rows(site)
    assert rows["sensors[name=op_tra].max"]["reset"] == "remove `max` from line 8"
    assert rows["sensors[name=op_tra].min"]["kind"] == "override"


def test_a_plant_without_extends_has_no_template_rows() -> None:
    diff = plant_template_diff(PLANTS / "plant_a" / "plant.yaml")
    assert diff.template is None and diff.rows == []


def test_the_repositorys_moved_plant_has_no_override() -> None:
    diff = plant_template_diff(PLANTS / "cmapss_fd002" / "plant.yaml")
    assert diff.template is not None and diff.template.name == "turbofan_engine"
    assert diff.of_kind("override") == [] and diff.of_kind("same") == []
    assert [r.key for r in diff.of_kind("added")] == [
        "plant_id",
        "name",
        "machines",
        "edge",
        "example",
    ]


def test_cli_diff_json(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = site / "home"
    code = main(
        ["fleet", "diff", "fd001", "--plants", str(site / "plants"), "--home", str(home), "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["extends"] == "turbofan_engine"
    assert out["template_audit"]["status"] == "new"
    assert any(r["key"] == "model.holdout_days" and r["plant_value"] == 3 for r in out["rows"])
    assert main(["fleet", "diff", "nope", "--plants", str(site / "plants")]) == 2
    assert "unknown plant 'nope'" in capsys.readouterr().err


def test_template_changes_are_recorded_once_per_sha_with_what_changed(site: Path) -> None:
    home = FactoryHome(site / "home")
    plants = site / "plants"
    templates = discover_templates(plants)
    assert templates == {"turbofan_engine": site / "fleet" / "templates" / "turbofan_engine.yaml"}
    [st] = template_statuses(home, templates, plants)
    assert st.status == "new" and st.plants == ["fd001"] and st.last is None

    [first] = record_template_changes(home, templates, plants, actor="person:a.b", reason="initial")
    assert first.kind == "template_change" and first.plant is None
    assert first.details["previous_sha256"] is None and first.details["changed_keys"] is None
    assert first.details["text"] == TEMPLATE.read_text()
    assert (
        record_template_changes(home, templates, plants, actor="person:a.b", reason="again") == []
    )
    [st] = template_statuses(home, templates, plants)
    assert st.status == "recorded" and st.last == first

    path = templates["turbofan_engine"]
    path.write_text(path.read_text().replace("holdout_days: 4", "holdout_days: 5"))
    [st] = template_statuses(home, templates, plants)
    assert st.status == "changed" and st.changed == ["model.holdout_days"]
    assert load_plant_config(plants / "fd001" / "plant.yaml").model.holdout_days == 3  # overridden

    [second] = record_template_changes(home, templates, plants, actor="person:c.d", reason="CR-12")
    assert second.details["previous_sha256"] == first.details["sha256"]
    assert second.details["changed_keys"] == ["model.holdout_days"]
    assert second.actor == "person:c.d" and second.reason == "CR-12"
    assert AuditLog.for_home(home).verify().ok


def test_cli_templates_check_fails_until_recorded(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--plants", str(site / "plants"), "--home", str(site / "home")]
    assert main(["fleet", "templates", "check", *args]) == 1
    assert "turbofan_engine changed without an audit record" in capsys.readouterr().err
    assert main(["fleet", "templates", "record", *args]) == 2  # a reason is required
    assert main(["fleet", "templates", "record", "--reason", "first", "--by", "j.doe", *args]) == 0
    assert "recorded turbofan_engine" in capsys.readouterr().out
    assert main(["fleet", "templates", "check", *args]) == 0
    assert main(["fleet", "templates", "--json", *args]) == 0
    [listed] = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert listed["status"] == "recorded" and listed["recorded_by"] == "person:j.doe"
    assert listed["plants"] == ["fd001"]


def test_changed_keys_follow_the_merge_rules() -> None:
    old = yaml.safe_load(TEMPLATE.read_text())
    new = yaml.safe_load(TEMPLATE.read_text())
    new["sensors"][2]["max"] = 100
    new["sensors"].append({"name": "new_one", "unit": "K"})
    new["features"]["windows_minutes"] = [60]
    del new["contract"]["severity"]["spike"]
    assert changed_keys(old, new) == [
        "sensors[name=op_tra].max",
        "sensors[name=new_one]",
        "contract.severity.spike",
        "features.windows_minutes",
    ]


def test_a_template_that_breaks_a_plant_is_not_recorded(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from factory_mlops.errors import FactoryMLOpsError

    home = FactoryHome(site / "home")
    plants = site / "plants"
    templates = discover_templates(plants)
    path = templates["turbofan_engine"]
    path.write_text(path.read_text().replace("  holdout_days: 4", "  holdout_dayz: 4"))
    with pytest.raises(FactoryMLOpsError) as exc:
        record_template_changes(home, templates, plants, actor="person:a.b", reason="typo")
    assert "template turbofan_engine breaks plant fd001" in str(exc.value)
    assert "model.holdout_dayz: unknown key" in str(exc.value)
    assert AuditLog.for_home(home).entries() == []
    args = ["--plants", str(plants), "--home", str(home.root)]
    assert main(["fleet", "templates", "check", *args]) == 1
    assert "template turbofan_engine breaks plant fd001" in capsys.readouterr().err
    assert main(["fleet", "templates", "record", "--reason", "typo", *args]) == 2

"""`factory-mlops ingest PLANT FILE... [--json]`: keys, exit codes, and real exports by YAML only."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from factory_mlops.cli import main
from factory_mlops_tests.conftest import PLANTS, REPO
from factory_mlops_tests.ingest.test_bad_batches import good_frame

KEYS = {"rows_received", "rows_accepted", "rows_quarantined", "reasons", "status"}


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_json_per_file_and_exit_0_with_quarantined_rows(tmp_path, capsys):
    frame = good_frame()
    frame.loc[[1, 2], "barrel_temp_c"] = "ERR"
    path = tmp_path / "day.csv"
    frame.to_csv(path, index=False)
    code = main(
        [
            "ingest",
            "plant_a",
            str(path),
            "--json",
            "--home",
            str(tmp_path / "home"),
            "--plants",
            str(PLANTS),
        ]
    )
    out = _json(capsys)
    assert code == 0
    assert KEYS <= set(out)
    assert out["status"] == "partially_accepted"
    assert out["reasons"] == {"value_not_numeric:barrel_temp_c": 2}
    assert out["rows_received"] == len(frame) == out["rows_accepted"] + out["rows_quarantined"]


def test_several_files_give_a_list_and_exit_1_when_one_is_rejected_whole(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good_frame().to_csv(good, index=False)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02 not a csv")
    code = main(
        [
            "ingest",
            str(PLANTS / "plant_a" / "plant.yaml"),
            str(good),
            str(bad),
            "--json",
            "--home",
            str(tmp_path / "home"),
        ]
    )
    out = _json(capsys)
    assert code == 1
    assert [o["status"] for o in out] == ["accepted", "rejected"]
    assert out[1]["failures"][0]["rule"] == "binary_content"


def test_missing_file_is_rejected_not_a_crash(tmp_path, capsys):
    code = main(
        [
            "ingest",
            "plant_a",
            str(tmp_path / "nope.csv"),
            "--json",
            "--home",
            str(tmp_path / "h"),
            "--plants",
            str(PLANTS),
        ]
    )
    out = _json(capsys)
    assert code == 1 and out["status"] == "rejected"
    assert out["failures"][0]["rule"] == "file_unreadable"


def test_unknown_plant_is_a_usage_error(tmp_path, capsys):
    code = main(
        ["ingest", "no_such_plant", "x.csv", "--plants", str(PLANTS), "--home", str(tmp_path)]
    )
    assert code == 2
    assert "known plants" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("plant", "file", "rows", "events"),
    [
        ("ai4i_mill", "data/ai4i2020.csv.gz", 10000, 339),
        ("cmapss_fd002", "data/train_FD002.txt.xz", 53759, 260),
    ],
)
def test_real_exports_added_by_yaml_only(tmp_path, plant, file, rows, events):
    """The vendored real exports go through the console script of a fresh process."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_mlops.cli",
            "ingest",
            plant,
            str(PLANTS / plant / file),
            "--json",
            "--home",
            str(tmp_path / "home"),
            "--plants",
            str(PLANTS),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["rows_received"], out["rows_accepted"], out["status"]) == (rows, rows, "accepted")
    assert out["label_events"] == events
    lake = tmp_path / "home" / "lake" / plant / "validated_readings"
    stored = pd.concat(pd.read_parquet(p) for p in lake.glob("*/*.parquet"))
    assert len(stored) == rows
    assert str(stored["timestamp"].dtype) == "datetime64[ns, UTC]"
    if plant == "ai4i_mill":  # exported in kelvin, stored in degC
        assert stored["air_temp_c"].between(22.0, 31.5).all()
    else:  # exported in degrees Rankine, stored in kelvin; cycle -> hourly time per engine
        assert stored["t24_lpc_out_k"].between(297.0, 358.5).all()
        first = stored[stored["machine_id"] == "engine_001"]["timestamp"].sort_values()
        assert first.min() == pd.Timestamp("2026-01-01T01:00:00Z")
        assert first.diff().dropna().eq(pd.Timedelta(hours=1)).all()


def test_machines_installed_does_not_crash_ingest(tmp_path, capsys):
    # regression: a datetime in machines[].installed made the contract version crash
    # (`datetime is not JSON serializable`), exit code 1 as if the file were rejected
    import yaml

    data = yaml.safe_load((PLANTS / "plant_a" / "plant.yaml").read_text())
    data["machines"][0]["installed"] = "2026-05-01T06:00:00Z"
    plant = tmp_path / "plants" / "plant_a"
    plant.mkdir(parents=True)
    (plant / "plant.yaml").write_text(yaml.safe_dump(data))
    path = tmp_path / "day.csv"
    good_frame().to_csv(path, index=False)
    code = main(
        ["ingest", str(plant / "plant.yaml"), str(path), "--json", "--home", str(tmp_path / "h")]
    )
    out = _json(capsys)
    assert code == 0 and out["status"] == "accepted"
    from factory_mlops.config import load_plant_config

    cfg = load_plant_config(plant / "plant.yaml")
    assert cfg.machines[0].installed is not None
    assert out["contract_version"] == cfg.contract_version()
    # the install time is part of the contract: moving it is a new contract version
    data["machines"][0]["installed"] = "2026-05-02T06:00:00Z"
    (plant / "plant.yaml").write_text(yaml.safe_dump(data))
    assert load_plant_config(plant / "plant.yaml").contract_version() != cfg.contract_version()

"""`bench retrain`: a small run end to end (fresh child processes, registry versions), and its options."""

import argparse
import json

import pytest

from benchmarks import BENCHMARKS
from benchmarks._retrain import DAYS_ENV, DEFAULT_DAYS, bench_days, bench_retrain
from factory_mlops.home import FactoryHome


def test_registered_under_its_name():
    assert BENCHMARKS["retrain"] is bench_retrain


def test_days_come_from_the_environment(monkeypatch):
    monkeypatch.delenv(DAYS_ENV, raising=False)
    assert bench_days() == DEFAULT_DAYS == 35
    monkeypatch.setenv(DAYS_ENV, "12")
    assert bench_days() == 12
    for bad in ("twelve", "1"):
        monkeypatch.setenv(DAYS_ENV, bad)
        with pytest.raises(SystemExit, match=DAYS_ENV):
            bench_days()


def test_refuses_a_home_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(SystemExit, match="not empty"):
        bench_retrain(argparse.Namespace(home=str(tmp_path), repeat=1, json=True))


@pytest.mark.slow
def test_small_retrain_bench_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv(DAYS_ENV, "12")
    home = tmp_path / "home"
    out = bench_retrain(argparse.Namespace(home=str(home), repeat=1, json=True))
    json.loads(json.dumps(out))  # what `--json` prints
    assert out["benchmark"] == "retrain" and out["days"] == 12 and out["repeat"] == 1
    assert out["seconds"] > 0 and len(out["runs_s"]) == 1
    assert out["peak_mb"] > out["import_baseline_mb"] > 0
    assert out["retrain_adds_mb"] == pytest.approx(
        out["peak_mb"] - out["import_baseline_mb"], abs=0.11
    )
    assert {"training_set", "train", "evaluate", "register"} <= set(out["stage_seconds"])
    assert all(v >= 0 for v in out["stage_seconds"].values())
    assert "deploy" in out["initial_retrain"]["stage_seconds"]  # the first champion was deployed
    assert (
        out["machines"] == 8
        and out["features"] > 0
        and out["rows"] == out["train_rows"] + out["holdout_rows"] > 0
    )
    assert out["aim_seconds"] == 60 and out["meets_aim"] is (out["seconds"] < 60)
    assert out["machine"]["cores"] and out["machine"]["cpus_used"]
    assert "retrain of plant_a on 12 days" in out["text"]
    # the scratch home is kept (--home given): the initial champion plus one version per timed run
    from factory_mlops.registry import ModelRegistry

    registry = ModelRegistry.from_home(FactoryHome(home))
    assert (
        [v.version for v in registry.list_versions("plant_a")] == out["registry_versions"] == [1, 2]
    )
    assert out["champion_version"] == 1

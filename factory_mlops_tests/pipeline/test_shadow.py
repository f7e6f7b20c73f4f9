"""Value of retraining on a real home: shadow challengers, prequential scoring, the stored payload."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from factory_mlops import pipeline
from factory_mlops.edge import EdgeModel
from factory_mlops.ingest import LAYER_TABLES, PREDICTIONS, SHADOW_PREDICTIONS, Lake
from factory_mlops.registry import ModelRegistry
from factory_mlops_tests.shadow_home import FIRST_STREAM, shadow_config

D = dt.date.fromisoformat


def test_shadows_are_trained_on_the_cadence_stored_and_never_registered(shadow_plant):
    config, home, _days, payloads = shadow_plant
    shadows = pipeline.list_shadows(home, config.plant_id)
    # v1's data ends 2026-06-18: every 3 days from there
    assert [s.data_through for s in shadows] == [D("2026-06-21"), D("2026-06-24"), D("2026-06-27")]
    trained = {d: p["shadow_trained"] for d, p in payloads.items() if p["shadow_trained"]}
    assert [dt.date.fromisoformat(t["data_through"]) for t in trained.values()] == list(trained)
    assert list(trained) == [s.data_through for s in shadows]
    for s in shadows:
        folder = home.root / "shadow" / config.plant_id / s.data_through.isoformat()
        assert s.path == folder and (folder / "model.joblib").exists()
        doc = json.loads((folder / "shadow.json").read_text())
        assert doc["data_through"] == s.data_through.isoformat()
        assert doc["spec_hash"] == pipeline.plant_feature_spec(config, home).hash
        assert doc["training_rows"] > 0 and doc["training_failures"] >= 1 and doc["trained_at"]
        assert 0 < doc["threshold"] < 1 and doc["task"] == "classification"
    # never registered, never deployed
    registry = ModelRegistry.from_home(home)
    assert [v.version for v in registry.list_versions(config.plant_id)] == [1]
    for n in config.edge.nodes:
        assert EdgeModel.load(home.edge(config.plant_id, n.id)).version == 1
    # not due on the days between
    assert "every 3 d" in payloads[D("2026-06-22")]["shadow_due"]


def test_scoring_is_prequential_and_aligned_with_the_champion_rows(shadow_plant):
    config, home, days, payloads = shadow_plant
    lake = Lake(home, config.plant_id)
    scored = lake.days(SHADOW_PREDICTIONS)
    assert scored == days[days.index(D("2026-06-22")) :]
    # the day a shadow is trained through, it does not score: the first one trains on 06-21
    assert payloads[D("2026-06-21")]["scored_rows"] == 0
    assert "no shadow challenger trained before 2026-06-21" in " ".join(
        payloads[D("2026-06-21")]["reasons"]
    )
    shadows = {s.data_through: s for s in pipeline.list_shadows(home, config.plant_id)}
    for d in scored:
        sp = lake.read(SHADOW_PREDICTIONS, d)
        through = D(sp["shadow_data_through"].unique().item())
        assert through < d  # never the day it was trained through
        assert through == max(t for t in shadows if t < d)  # the newest trained before it
        assert payloads[d]["shadow_data_through"] == through.isoformat()
        preds = lake.read(PREDICTIONS, d)
        champ = preds[preds["model_version"] == 1].sort_values(["timestamp", "machine_id"])
        assert len(sp) == len(champ) == payloads[d]["scored_rows"] > 0
        assert (sp["machine_id"].to_numpy() == champ["machine_id"].to_numpy()).all()
        assert (sp["timestamp"].to_numpy() == champ["timestamp"].to_numpy()).all()
        assert (sp["champion_alarm"].to_numpy() == champ["alarm"].to_numpy(dtype=bool)).all()
        assert (sp["champion_version"] == 1).all()
    # the stored scores are the shadow model's on the lake's feature rows
    d = scored[-1]
    sp = lake.read(SHADOW_PREDICTIONS, d)
    model = shadows[D(sp["shadow_data_through"].iloc[0])].load_model()
    feats = lake.read("sensor_features", d)
    feats["timestamp"] = pd.to_datetime(feats["timestamp"], utc=True)
    rows = sp[["machine_id", "timestamp"]].merge(feats, on=["machine_id", "timestamp"])
    np.testing.assert_allclose(model.predict_scores(rows), sp["shadow_score"].to_numpy())
    assert (model.alarms(sp["shadow_score"].to_numpy()) == sp["shadow_alarm"].to_numpy()).all()


def test_rows_logged_by_several_nodes_count_once(shadow_plant):
    config, home, _days, _ = shadow_plant
    lake = Lake(home, config.plant_id)
    d = D("2026-06-23")
    before = lake.read(SHADOW_PREDICTIONS, d)
    original = lake.read(PREDICTIONS, d)
    try:
        lake.write(PREDICTIONS, d, pd.concat([original, original.assign(node_id="spare")]))
        again = pipeline.score_shadow_day(config, home, d)
        assert again.rows == again.champion_rows == len(before)
        pd.testing.assert_frame_equal(lake.read(SHADOW_PREDICTIONS, d), before)
    finally:
        lake.write(PREDICTIONS, d, original)


def test_the_stored_payload_is_the_judgment_since_the_last_decision(shadow_plant):
    config, home, days, payloads = shadow_plant
    lake = Lake(home, config.plant_id)
    rollout = config.costs.rollout_cost
    for d, p in payloads.items():
        assert lake.read_json(LAYER_TABLES["retrain_value"], d) == p
        assert p["day"] == d.isoformat() and p["model_version"] == 1
        assert p["since"] == days[FIRST_STREAM].isoformat()
        assert p["rollout_cost"] == rollout and p["task"] == "classification"
        if p["judged"]:
            assert p["gain_low"] is not None
            assert p["severity"] == ("critical" if p["gain_low"] > rollout else "ok")
            assert (
                p["daily"][-1]["cumulative"] == p["gain"] and p["daily"][-1]["low"] == p["gain_low"]
            )
            assert "| day | gain | cumulative | lower bound |" in p["table_md"]
            assert p["challenger_caught"] <= p["failures"] and p["champion_caught"] <= p["failures"]
        else:
            assert p["severity"] == "ok" and p["gain_low"] is None
            assert p["reasons"][0].startswith("not judged:")
    # before any shadow: not judged, and no plausible number
    first = payloads[days[FIRST_STREAM]]
    assert not first["judged"] and first["days"] == 0 and first["shadow_data_through"] is None
    # the last day accumulates every scored day since the last decision
    last = payloads[days[-1]]
    assert last["judged"] and last["accumulated_days"][0] == "2026-06-22"
    assert [x["severity"] for x in payloads.values()].count("critical") >= 1


def test_since_restarts_the_accumulation(shadow_plant):
    config, home, days, payloads = shadow_plant
    d = days[-1]
    later = pipeline.retrain_value_for_day(config, home, d, since=D("2026-06-26"))
    assert later["accumulated_days"] == ["2026-06-26", "2026-06-27", "2026-06-28"]
    assert later["days"] <= 3 and later["shadow_trained"] is None  # 06-27's shadow exists: not due
    fresh = pipeline.retrain_value_for_day(config, home, d, since=d + dt.timedelta(days=1))
    assert not fresh["judged"] and fresh["accumulated_days"] == [] and fresh["gain_low"] is None
    assert fresh["reasons"][0].startswith("not judged:")
    # restore the fixture's stored payload
    again = pipeline.retrain_value_for_day(config, home, d, since=days[FIRST_STREAM])
    assert again == payloads[d]


def test_off_scores_trains_and_stores_nothing(shadow_plant, plant_a_config):
    config, home, days, _payloads = shadow_plant
    off = shadow_config(plant_a_config, shadow_every_days=None)
    lake = Lake(home, config.plant_id)
    d = days[-1]
    stored = lake.read_json(LAYER_TABLES["retrain_value"], d)
    shadows = pipeline.list_shadows(home, config.plant_id)
    out = pipeline.retrain_value_for_day(off, home, d, since=None)
    assert out["severity"] == "ok" and not out["judged"]
    assert out["reasons"] == ["not judged: retrain.shadow_every_days is off"]
    assert lake.read_json(LAYER_TABLES["retrain_value"], d) == stored
    assert pipeline.list_shadows(home, config.plant_id) == shadows
    assert pipeline.shadow_due(off, home, d, champion_through=None, since=None)[0] is False

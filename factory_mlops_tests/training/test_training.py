"""Labels, time split, training and the gate on simulated plant_a data."""

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import ModelConfig
from factory_mlops.evaluation import evaluate_predictions, gate
from factory_mlops.features import FeatureSpec, compute_features
from factory_mlops.training import build_training_set, label_failures, split_by_time, train_model


def _maint(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime([t for t, _ in rows], utc=True),
            "machine_id": [m for _, m in rows],
            "event": "failure",
        }
    )


def test_labels_positive_within_horizon_unknown_when_not_yet_known():
    feats = pd.DataFrame(
        {
            "machine_id": ["m1"] * 4,
            "timestamp": pd.to_datetime(
                ["2026-06-01 00:00", "2026-06-01 12:00", "2026-06-02 06:00", "2026-06-03 00:00"],
                utc=True,
            ),
        }
    )
    maint = _maint([("2026-06-02 08:00", "m1")])
    y = label_failures(
        feats, maint, pd.Timedelta(hours=24), pd.Timestamp("2026-06-03 12:00", tz="UTC")
    )
    # 00:00 is 32 h before the failure, 12:00 and 06:00 are within 24 h, 06-03 00:00 is after it and
    # its horizon is not over at known_until, so it is unknown (NaN), never guessed as 0.
    assert y.iloc[0] == 0.0 and y.iloc[1] == 1.0 and y.iloc[2] == 1.0
    assert np.isnan(y.iloc[3])


def test_other_machines_failures_do_not_label():
    feats = pd.DataFrame(
        {"machine_id": ["m2"], "timestamp": pd.to_datetime(["2026-06-01 12:00"], utc=True)}
    )
    y = label_failures(
        feats,
        _maint([("2026-06-01 13:00", "m1")]),
        pd.Timedelta(hours=24),
        pd.Timestamp("2026-06-05", tz="UTC"),
    )
    assert y.iloc[0] == 0.0


@pytest.fixture(scope="module")
def trained(plant_a_config, plant_a_sim):
    spec = FeatureSpec.from_config(plant_a_config)
    end = pd.Timestamp(plant_a_sim.date_of(27), tz="UTC") + pd.Timedelta(days=1)
    r = plant_a_sim.readings
    feats = compute_features(r[r.timestamp < end], spec)
    maint = plant_a_sim.maintenance[plant_a_sim.maintenance.reported_at <= end]
    ts = build_training_set(feats, maint, spec, plant_a_config.model, data_end=end)
    split = split_by_time(ts, plant_a_config.model)
    return ts, split, train_model(split.train, spec, plant_a_config.model), maint


def test_split_is_time_ordered_with_a_horizon_gap(trained, plant_a_config):
    ts, split, _, _ = trained
    assert split.train["timestamp"].max() <= split.holdout_start - pd.Timedelta(
        hours=plant_a_config.model.horizon_hours
    )
    assert split.holdout["timestamp"].min() > split.holdout_start
    assert len(ts.sha256) == 64 and ts.n_positive > 50


def test_model_beats_chance_and_is_deterministic(trained, plant_a_config):
    ts, split, tm, maint = trained
    m = evaluate_predictions(
        split.holdout, tm.predict_proba(split.holdout), tm.threshold, maint, pd.Timedelta(hours=24)
    )
    assert m["pr_auc"] > 3 * m["positive_rate"]  # far above a random ranking
    assert 0 < tm.threshold < 1
    again = train_model(split.train, ts.spec, plant_a_config.model)
    np.testing.assert_array_equal(
        again.predict_proba(split.holdout), tm.predict_proba(split.holdout)
    )


def test_gate_promotes_only_a_real_gain():
    cfg = ModelConfig(min_improvement=0.02, recall_tolerance=0.05)
    champ = {"pr_auc": 0.70, "failure_recall": 0.9, "alarm_rate": 0.1}
    assert gate({"pr_auc": 0.75, "failure_recall": 0.9, "alarm_rate": 0.1}, champ, cfg).promote
    small = gate({"pr_auc": 0.71, "failure_recall": 0.9, "alarm_rate": 0.1}, champ, cfg)
    assert not small.promote and "< margin" in small.summary
    misses = gate({"pr_auc": 0.90, "failure_recall": 0.5, "alarm_rate": 0.1}, champ, cfg)
    assert not misses.promote and "failures caught drop" in misses.summary
    # a first model has no champion to beat, but it must clear the absolute floors
    # (model.floors): one that catches 10 % of the failures is not promoted ...
    useless = gate({"pr_auc": 0.1, "failure_recall": 0.1}, None, cfg)
    assert not useless.promote and "first model" in useless.summary
    # ... a useful one is
    first = {
        "pr_auc": 0.6,
        "failure_recall": 0.9,
        "alarm_rate": 0.1,
        "precision": 0.8,
        "median_lead_time_h": 12.0,
    }
    assert gate(first, None, cfg).promote

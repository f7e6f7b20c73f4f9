"""A test bed that labels every anomalous row: failures are episodes, not rows.

Three machines, one-minute rows, each with one anomaly labelled on 300 consecutive rows (the way
real test-bed exports label every anomalous sample). Ingest derives one failure event per labelled
row; the product must still see 3 failures, choose a threshold that does not alarm on most rows,
and price 3 failures, not 900.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import ModelConfig, PlantConfig
from factory_mlops.evaluation import evaluate_predictions, failure_episodes
from factory_mlops.features import FeatureSpec
from factory_mlops.pipeline import derive_label_events
from factory_mlops.training import label_failures, train_model

T0 = pd.Timestamp("2026-03-01", tz="UTC")
DAYS = 4
HORIZON = pd.Timedelta(minutes=30)
SPEC = FeatureSpec(sensors=("x",), windows_minutes=(1,), stats=("mean",), step_minutes=1)
FEATURE = SPEC.feature_names[0]


def _config() -> PlantConfig:
    return PlantConfig(
        plant_id="test_bed",
        partitions_start=T0.date(),
        machines=[{"id": f"rig_{i}", "line": "bed"} for i in (1, 2, 3)],
        sensors=[{"name": "x", "unit": "bar", "min": -100, "max": 100, "cadence_s": 60}],
        source={
            "readings": {"columns": {"x": "x", "label": "anomaly"}},
            "labels": {"kind": "label_column"},
        },
        model={"horizon_hours": HORIZON / pd.Timedelta(hours=1), "min_positive_rows": 10},
    )


def _bed(n_anomalies_per_machine: int = 1) -> pd.DataFrame:
    """Readings with the per-row label: `rig_i`'s anomalies start on day i (+ 1 per extra one)."""
    rng = np.random.default_rng(7)
    n = DAYS * 24 * 60
    frames = []
    for i in (1, 2, 3):
        t = T0 + pd.to_timedelta(np.arange(n), unit="min")
        x = rng.normal(0.0, 1.0, n)
        label = np.zeros(n)
        for k in range(n_anomalies_per_machine):
            onset = (i - 1 + k) % DAYS * 1440 + 600 + 120 * i
            label[onset : onset + 300] = 1.0
            # the signal rises 20 min before the labelled anomaly and stays up during it
            x[onset - 20 : onset + 300] += rng.normal(2.5, 1.0, 320)
        frames.append(
            pd.DataFrame({"machine_id": f"rig_{i}", "timestamp": t, "x": x, "label": label})
        )
    return pd.concat(frames, ignore_index=True)


def _labelled(bed: pd.DataFrame, config: PlantConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = derive_label_events(bed[["machine_id", "timestamp", "label"]], config)
    rows = bed[["machine_id", "timestamp"]].copy()
    rows[FEATURE] = bed["x"].to_numpy()
    known = bed["timestamp"].max() + pd.Timedelta(days=1)
    rows["label"] = label_failures(rows, events, HORIZON, known).to_numpy()
    return rows, events


@pytest.fixture(scope="module")
def fitted():
    config = _config()
    rows, events = _labelled(_bed(), config)
    gap = pd.Timedelta(seconds=config.episode_gap_s)
    model = ModelConfig(horizon_hours=0.5, threshold_folds=4, recency_half_life_days=None)
    trained = train_model(
        rows, SPEC, model, maintenance=events, costs=config.costs, episode_gap=gap
    )
    return config, rows, events, gap, trained


def test_per_row_labels_are_three_episodes_not_900_failures(fitted):
    config, rows, events, gap, trained = fitted
    assert len(events) == 900  # ingest derives one failure event per labelled row
    ep = failure_episodes(events, gap)
    assert len(ep) == 3 and ep["events"].tolist() == [300, 300, 300]
    assert (ep["end"] - ep["onset"]).tolist() == [pd.Timedelta(minutes=299)] * 3
    m = evaluate_predictions(
        rows,
        trained.predict_scores(rows),
        trained.threshold,
        events,
        HORIZON,
        costs=config.costs,
        gap=gap,
    )
    assert m["failures"] == 3.0
    assert m["failure_events_covered"] == 900.0
    assert m["failures_caught"] == 3.0


def test_threshold_chosen_on_episodes_does_not_alarm_on_most_rows(fitted):
    _, rows, _, _, trained = fitted
    report = trained.threshold_report
    assert report["method"] == "cost" and report["failures"] == 3
    alarm = trained.alarms(trained.predict_scores(rows))
    positive_rate = float(rows["label"].mean())  # 330 of 5760 rows per machine
    assert positive_rate < 0.06
    assert alarm.mean() < 0.2, f"alarms on {alarm.mean():.1%} of the rows"
    assert report["failures_caught"] >= 2


def test_costs_scale_with_episodes_not_rows(fitted):
    config, rows, events, gap, trained = fitted
    scores = trained.predict_scores(rows)
    m = evaluate_predictions(
        rows, scores, trained.threshold, events, HORIZON, costs=config.costs, gap=gap
    )
    c = config.costs
    want = (
        m["failures_missed"] * c.missed_failure_cost
        + m["failures_caught"] * c.caught_failure_cost
        + m["false_alarms"] * c.false_alarm_cost
    )
    assert m["expected_cost"] == pytest.approx(want)
    # never-alarming costs 3 missed failures (3 x 1.04 M), not 900
    assert m["expected_cost"] + m["cost_avoided"] == pytest.approx(3 * c.missed_failure_cost)
    assert m["expected_cost"] < 3 * c.missed_failure_cost
    # the same anomalies labelled by one event at each onset: the same failures and catches
    onsets = events.groupby("machine_id", as_index=False).first()
    one = evaluate_predictions(
        rows, scores, trained.threshold, onsets, HORIZON, costs=config.costs, gap=gap
    )
    assert (one["failures"], one["failures_caught"]) == (m["failures"], m["failures_caught"])
    # twice the anomalies: twice the failures the cost counts
    rows2, events2 = _labelled(_bed(n_anomalies_per_machine=2), config)
    m2 = evaluate_predictions(
        rows2,
        trained.predict_scores(rows2),
        trained.threshold,
        events2,
        HORIZON,
        costs=config.costs,
        gap=gap,
    )
    assert m2["failures"] == 6.0 and m2["failure_events_covered"] == 1800.0
    assert m2["expected_cost"] + m2["cost_avoided"] == pytest.approx(6 * c.missed_failure_cost)

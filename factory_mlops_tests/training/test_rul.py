"""The remaining-useful-life task: labels, training set, regressor, metrics, gate and the retrain stages."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import ModelConfig, parse_plant_config
from factory_mlops.errors import PlantConfigError, TrainingError
from factory_mlops.evaluation import evaluate_predictions, evaluate_rul, gate
from factory_mlops.features import FeatureSpec
from factory_mlops.training import (
    TrainingSet,
    build_training_set,
    label_rul,
    split_by_time,
    train_model,
)

H = pd.Timedelta(hours=1)
T0 = pd.Timestamp("2026-03-01", tz="UTC")
SPEC = FeatureSpec(
    sensors=("wear", "temp"), windows_minutes=(60,), stats=("mean", "last"), step_minutes=60
)
RUL_MODEL = ModelConfig(
    task="rul",
    rul_cap_hours=125,
    horizon_hours=24,
    alarm_rul_hours=24,
    label_latency_hours=0,
    training_window_days=40,
    holdout_days=5,
    recency_half_life_days=None,
    params={"n_estimators": 150, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20},
)


def _maint(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime([t for t, _ in rows], utc=True),
            "machine_id": [m for _, m in rows],
            "event": "failure",
        }
    )


def _rows(machine: str, times: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"machine_id": machine, "timestamp": pd.to_datetime(times, utc=True)})


# ---------------------------------------------------------------------------------------- labels


def test_label_rul_exact_censored_at_cap_and_unknown():
    feats = _rows(
        "m1",
        [
            "2026-06-01 00:00",
            "2026-06-01 20:00",
            "2026-06-02 07:30",
            "2026-06-02 08:00",
            "2026-06-02 13:00",
            "2026-06-04 00:00",
        ],
    )
    maint = _maint([("2026-06-02 08:00", "m1")])
    y = label_rul(feats, maint, pd.Timedelta(hours=24), pd.Timestamp("2026-06-03 12:00", tz="UTC"))
    # 00:00 is 32 h before the failure: none in (T, T+24h] and that horizon is closed -> the cap.
    assert y.iloc[0] == 24.0
    # within the cap: the exact distance in hours
    assert y.iloc[1] == 12.0 and y.iloc[2] == 0.5
    # a failure exactly at T is not "next" ((T, ...]); T+24h = 06-03 08:00 <= known_until -> cap
    assert y.iloc[3] == 24.0
    # after the machine's last logged failure, with the cap horizon not closed yet: unknown
    assert np.isnan(y.iloc[4]) and np.isnan(y.iloc[5])
    assert y.name == "label" and y.index.equals(feats.index)


def test_label_rul_uses_the_machines_own_next_failure_and_a_logged_one_even_if_late():
    feats = pd.concat(
        [_rows("m1", ["2026-06-01 00:00"]), _rows("m2", ["2026-06-01 00:00", "2026-06-01 12:00"])],
        ignore_index=True,
    )
    maint = _maint(
        [("2026-06-01 03:00", "m1"), ("2026-06-01 06:00", "m1"), ("2026-06-01 20:00", "m2")]
    )
    # the log is complete only up to 02:00, but logged failures are known facts
    y = label_rul(feats, maint, pd.Timedelta(hours=100), pd.Timestamp("2026-06-01 02:00", tz="UTC"))
    np.testing.assert_array_equal(y.to_numpy(), [3.0, 20.0, 8.0])
    # a logged failure beyond the cap: the cap only once the cap horizon is closed
    y = label_rul(feats, maint, pd.Timedelta(hours=5), pd.Timestamp("2026-06-01 02:00", tz="UTC"))
    assert y.iloc[0] == 3.0 and np.isnan(y.iloc[1]) and np.isnan(y.iloc[2])
    y = label_rul(feats, maint, pd.Timedelta(hours=5), pd.Timestamp("2026-06-02", tz="UTC"))
    np.testing.assert_array_equal(y.to_numpy(), [3.0, 5.0, 5.0])


def test_label_rul_without_failures_is_cap_or_unknown():
    feats = _rows("m1", ["2026-06-01 00:00", "2026-06-01 23:00"])
    empty = _maint([])
    y = label_rul(feats, empty, pd.Timedelta(hours=10), pd.Timestamp("2026-06-01 12:00", tz="UTC"))
    assert y.iloc[0] == 10.0 and np.isnan(y.iloc[1])


# --------------------------------------------------------------------- synthetic degradation set


@lru_cache(maxsize=2)
def degradation(
    machines: int = 10, days: int = 40, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly feature rows of machines that wear out and fail, and the maintenance log.

    Each life lasts 60-220 h; the wear features grow with the used fraction of the life, and the
    machine fails half an hour after the last row of the life. The last life of each machine is
    still running at the end (censored).
    """
    rng = np.random.default_rng(seed)
    ts = pd.date_range(T0 + H, periods=days * 24, freq="h")
    frames, fails = [], []
    for m in range(machines):
        frac = np.empty(len(ts))
        start = 0
        while start < len(ts):
            life = int(rng.integers(60, 220))
            stop = min(start + life, len(ts))
            frac[start:stop] = np.arange(stop - start) / life
            if start + life <= len(ts):
                fails.append((ts[start + life - 1] + pd.Timedelta(minutes=30), f"m{m:02d}"))
            start += life
        noise = rng.normal(0, 0.04, (4, len(ts)))
        frames.append(
            pd.DataFrame(
                {
                    "machine_id": f"m{m:02d}",
                    "timestamp": ts,
                    "wear__mean_60m": frac + noise[0],
                    "wear__last_60m": frac + noise[1],
                    "temp__mean_60m": 50 + 8 * frac**2 + noise[2],
                    "temp__last_60m": 50 + noise[3],
                }
            )
        )
    feats = pd.concat(frames, ignore_index=True).sort_values(
        ["timestamp", "machine_id"], ignore_index=True
    )
    maint = pd.DataFrame(
        {
            "event_time": [t for t, _ in fails],
            "machine_id": [m for _, m in fails],
            "event": "failure",
        }
    )
    return feats, maint.sort_values("event_time", ignore_index=True)


@pytest.fixture(scope="module")
def rul_set() -> tuple[TrainingSet, pd.DataFrame]:
    feats, maint = degradation()
    return build_training_set(
        feats, maint, SPEC, RUL_MODEL, data_end=feats["timestamp"].max()
    ), maint


@pytest.fixture(scope="module")
def rul_trained(rul_set):
    ts, _ = rul_set
    split = split_by_time(ts, RUL_MODEL)
    return split, train_model(split.train, SPEC, RUL_MODEL)


def test_rul_training_set_holds_capped_hours(rul_set):
    ts, _ = rul_set
    y = ts.frame["label"]
    assert ts.task == "rul" and y.notna().all()
    assert y.min() == 0.5 and y.max() == 125.0
    assert 0 < (y < 125).mean() < 1  # exact hours and censored-at-cap rows
    assert ts.n_positive == int((y <= 24).sum()) > 100  # rows within the horizon of a failure
    assert list(ts.frame.columns[-1:]) == ["label"]


def test_rul_split_keeps_a_cap_wide_gap(rul_set, rul_trained):
    """A RUL label looks up to the cap ahead: train ends one cap before the holdout starts."""
    split, _ = rul_trained
    assert split.train_end == split.holdout_start - pd.Timedelta(hours=125)
    assert split.train["timestamp"].max() <= split.train_end
    assert split.holdout["timestamp"].min() > split.holdout_start
    assert len(split.train) >= 200 and len(split.holdout) >= 50


def test_rul_split_refuses_a_train_set_without_a_failure(rul_set):
    ts, _ = rul_set
    never = TrainingSet(
        frame=ts.frame.assign(label=125.0),
        spec=SPEC,
        known_until=ts.known_until,
        window_start=ts.window_start,
        window_end=ts.window_end,
        task="rul",
        horizon_hours=24,
    )
    with pytest.raises(TrainingError, match="no failure within rul_cap_hours"):
        split_by_time(never, RUL_MODEL)
    tiny = TrainingSet(
        frame=ts.frame.tail(30),
        spec=SPEC,
        known_until=ts.known_until,
        window_start=ts.window_start,
        window_end=ts.window_end,
        task="rul",
        horizon_hours=24,
    )
    with pytest.raises(TrainingError, match=r"RUL train split has 0 rows, needs at least 200"):
        split_by_time(tiny, RUL_MODEL)


def test_rul_model_beats_the_mean_and_is_deterministic(rul_set, rul_trained):
    _, maint = rul_set
    split, tm = rul_trained
    assert tm.task == "rul" and tm.threshold == 24.0
    assert type(tm.model).__name__ == "LGBMRegressor" and tm.params["objective"] == "regression"
    hold = split.holdout
    pred = tm.predict_scores(hold)
    m = evaluate_rul(
        hold, pred, tm.threshold, maint, pd.Timedelta(hours=24), pd.Timedelta(hours=125)
    )
    mean = np.full(len(hold), split.train["label"].mean())
    baseline = evaluate_rul(
        hold, mean, tm.threshold, maint, pd.Timedelta(hours=24), pd.Timedelta(hours=125)
    )
    assert m["rmse"] < 0.6 * baseline["rmse"], (m["rmse"], baseline["rmse"])
    assert m["mae"] < baseline["mae"]
    assert m["pr_auc"] > 2 * m["positive_rate"]  # ranks "failure within 24 h" far above chance
    assert m["failures"] > 0 and m["failure_recall"] > 0.5 and m["median_lead_time_h"] > 0
    again = train_model(split.train, SPEC, RUL_MODEL)
    np.testing.assert_array_equal(again.predict_scores(hold), pred)
    np.testing.assert_array_equal(tm.alarms(pred), pred <= 24.0)


def test_rul_model_has_no_probability(rul_trained):
    split, tm = rul_trained
    with pytest.raises(TrainingError, match=r"'rul' model.*predict_scores"):
        tm.predict_proba(split.holdout)
    default = RUL_MODEL.model_copy(update={"alarm_rul_hours": None, "horizon_hours": 30})
    assert train_model(split.train.head(400), SPEC, default).threshold == 30.0


# --------------------------------------------------------------------------------- evaluate_rul


def test_evaluate_rul_metrics_by_hand():
    rows = _rows(
        "m1", ["2026-06-01 00:00", "2026-06-01 02:00", "2026-06-01 04:00", "2026-06-01 06:00"]
    )
    rows["label"] = [10.0, 8.0, 6.0, 4.0]  # the failure is at 10:00
    pred = np.array([12.0, 8.0, 3.0, 4.0])
    maint = _maint(
        [("2026-06-01 10:00", "m1"), ("2026-06-03 10:00", "m1")]
    )  # the second is not covered
    m = evaluate_rul(rows, pred, 5.0, maint, pd.Timedelta(hours=5), pd.Timedelta(hours=20))
    assert m["rmse"] == pytest.approx(np.sqrt(13 / 4)) and m["mae"] == pytest.approx(5 / 4)
    # failure within 5 h: only the 06:00 row; alarms (pred <= 5) at 04:00 and 06:00
    assert m["positive_rate"] == 0.25 and m["alarm_rate"] == 0.5
    assert m["recall"] == 1.0 and m["precision"] == 0.5
    assert m["pr_auc"] == pytest.approx(0.5)  # the 04:00 false alarm is ranked above the true one
    # same event logic as the classifier: the 04:00 alarm is before the horizon, 06:00 is inside
    assert (m["failures"], m["failures_caught"], m["failure_recall"]) == (1.0, 1.0, 1.0)
    assert m["median_lead_time_h"] == 4.0 and m["threshold"] == 5.0 and m["rows"] == 4.0
    same = evaluate_predictions(
        rows.assign(label=[0, 0, 0, 1]),
        np.array([0.1, 0.2, 0.9, 0.8]),
        0.5,
        maint,
        pd.Timedelta(hours=5),
    )
    for key in (
        "failures",
        "failures_caught",
        "failure_recall",
        "median_lead_time_h",
        "alarm_rate",
        "pr_auc",
    ):
        assert same[key] == pytest.approx(m[key]), key
    with pytest.raises(ValueError, match="above the cap"):
        evaluate_rul(rows, pred, 5.0, maint, pd.Timedelta(hours=5), pd.Timedelta(hours=8))
    with pytest.raises(ValueError, match="zero rows"):
        evaluate_rul(
            rows.iloc[:0], pred[:0], 5.0, maint, pd.Timedelta(hours=5), pd.Timedelta(hours=20)
        )


# ------------------------------------------------------------------------------------------ gate


def test_rul_gate_promotes_only_a_real_rmse_gain_without_losing_failures():
    cfg = ModelConfig(task="rul", min_rmse_improvement=0.05, recall_tolerance=0.1)
    champ = {"rmse": 20.0, "pr_auc": 0.9, "failure_recall": 0.8, "alarm_rate": 0.1}
    better = gate(
        {"rmse": 18.0, "pr_auc": 0.5, "failure_recall": 0.8, "alarm_rate": 0.1}, champ, cfg
    )
    assert (
        better.promote and "RMSE 20.00 h -> 18.00 h (10.0% lower >= margin 5.0%)" in better.summary
    )
    small = gate({"rmse": 19.5, "failure_recall": 0.9, "alarm_rate": 0.1}, champ, cfg)
    assert not small.promote and "(2.5% lower < margin 5.0%)" in small.summary
    worse = gate({"rmse": 25.0, "failure_recall": 0.9, "alarm_rate": 0.1}, champ, cfg)
    assert not worse.promote and "-25.0% lower < margin" in worse.summary
    misses = gate({"rmse": 10.0, "failure_recall": 0.5, "alarm_rate": 0.1}, champ, cfg)
    assert not misses.promote and "failures caught drop 80% -> 50%" in misses.summary
    tolerated = gate({"rmse": 18.0, "failure_recall": 0.75, "alarm_rate": 0.1}, champ, cfg)
    assert tolerated.promote and "failures caught 80% -> 75% (tolerance 10%)" in tolerated.summary
    assert gate({"rmse": 50.0, "failure_recall": 0.0}, None, cfg).promote
    assert not gate({"rmse": float("nan")}, champ, cfg).promote
    # the classification gate reads PR-AUC: the same numbers are a rejection there
    classification = ModelConfig(min_improvement=0.02, recall_tolerance=0.1)
    assert not gate(
        {"rmse": 18.0, "pr_auc": 0.5, "failure_recall": 0.8, "alarm_rate": 0.1},
        champ,
        classification,
    ).promote


# ---------------------------------------------------------------------------------------- config


def _plant(model: dict) -> dict:
    return {
        "plant_id": "wear_plant",
        "partitions_start": "2026-03-01",
        "machines": [{"id": f"m{m:02d}", "line": "l1"} for m in range(10)],
        "sensors": [
            {"name": "wear", "unit": "1", "min": -1, "max": 3},
            {"name": "temp", "unit": "degC", "min": 0, "max": 100},
        ],
        "edge": {"nodes": [{"id": "edge_1"}]},
        "model": model,
    }


def test_config_rul_levels_must_be_below_the_cap():
    cfg = parse_plant_config(_plant({"task": "rul", "rul_cap_hours": 125, "horizon_hours": 30}))
    assert cfg.model.task == "rul" and cfg.model.alarm_rul == 30.0
    with pytest.raises(
        PlantConfigError, match=r"alarm_rul_hours \(130.0\) must be below rul_cap_hours"
    ):
        parse_plant_config(
            _plant(
                {"task": "rul", "rul_cap_hours": 125, "horizon_hours": 30, "alarm_rul_hours": 130}
            )
        )
    with pytest.raises(
        PlantConfigError, match=r"horizon_hours \(200.0\) must be below rul_cap_hours"
    ):
        parse_plant_config(_plant({"task": "rul", "horizon_hours": 200}))
    with pytest.raises(PlantConfigError, match=r"model\.task"):
        parse_plant_config(_plant({"task": "regression"}))
    # the RUL fields do not constrain a classification plant
    assert (
        parse_plant_config(_plant({"horizon_hours": 200, "rul_cap_hours": 10})).model.task
        == "classification"
    )


# ------------------------------------------------------------------------- retrain stages (RUL)


def test_retrain_stages_train_gate_register_and_deploy_a_rul_model(
    rul_set, tmp_path: Path, monkeypatch
):
    from factory_mlops.edge import EdgeModel
    from factory_mlops.home import FactoryHome
    from factory_mlops.pipeline import _retrain
    from factory_mlops.registry import ModelRegistry

    ts, maint = rul_set
    config = parse_plant_config(_plant(RUL_MODEL.model_dump()))
    home = FactoryHome(tmp_path / "home")
    registry = ModelRegistry.from_home(home)
    monkeypatch.setattr(_retrain, "load_maintenance", lambda cfg, h, as_of=None: maint)

    cand = _retrain.train_candidate(config, ts)
    assert cand.reference.score_column == "rul_hours"
    assert (
        cand.train_positives
        == int((ts.frame[ts.frame["timestamp"] <= cand.train_end]["label"] <= 24).sum())
        > 0
    )
    first = _retrain.evaluate_candidate(config, home, cand, registry)
    assert first.decision.promote and first.champion is None and first.challenger["rmse"] > 0
    reg = _retrain.register_candidate(
        config, home, cand, first, registry, trigger="initial", reason="test"
    )
    version, alias = reg.version, reg.alias
    assert alias == "champion" and "# Model card" in reg.model_card and "RMSE" in reg.model_card
    assert version.tags["task"] == "rul" and float(version.tags["alarm_threshold"]) == 24.0
    assert version.metrics["rmse"] == pytest.approx(first.challenger["rmse"])

    # the champion (loaded from MLflow, predicting hours with .predict) scores exactly like the challenger
    again = _retrain.evaluate_candidate(config, home, cand, registry)
    assert again.champion_version == version.version and again.champion is not None
    assert again.champion["rmse"] == pytest.approx(again.challenger["rmse"], rel=1e-12)
    assert not again.decision.promote and "< margin" in again.decision.summary

    from factory_mlops.pipeline import deploy_version

    dep = deploy_version(
        config, home, registry, version.version, actor="person:test", reason="test"
    )
    assert dep.parity_max_abs_diff <= 1e-6
    edge = EdgeModel.load(home.edge(config.plant_id, "edge_1"))
    assert edge.task == "rul" and edge.threshold == 24.0 and edge.manifest["task"] == "rul"
    hours = edge.predict_features(cand.holdout[SPEC.feature_names])
    assert np.abs(hours - cand.trained.predict_scores(cand.holdout)).max() < 1e-4

"""Feedback labels joining the training set: override, out-of-window rows, cutoff, conflicts, RUL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from factory_mlops.feedback import FEEDBACK_URL_ENV, FeedbackStore, feedback_labels, record_feedback
from factory_mlops.feedback._join import feature_day, id_ranges

DAYS = 10


@pytest.fixture(scope="module")
def lake_home(plant_a_config, tmp_path_factory):
    """plant_a simulated for 10 days (ingested, features built; window 5 days) and prediction logs with
    one prediction per feature row (ids `<machine>@<timestamp>`), alarm on every other row."""
    from factory_mlops import pipeline
    from factory_mlops.edge import PredictionLog
    from factory_mlops.home import FactoryHome
    from factory_mlops.ingest import Lake
    from factory_mlops.simulate import simulate_plant, write_landing_files

    sim_cfg = plant_a_config.simulation.model_copy(update={"history_days": DAYS, "stream_days": 0})
    model = plant_a_config.model.model_copy(update={"training_window_days": 5, "holdout_days": 1})
    config = plant_a_config.model_copy(update={"simulation": sim_cfg, "model": model})
    home = FactoryHome(tmp_path_factory.mktemp("join") / "home").ensure()
    sim = simulate_plant(config)
    write_landing_files(sim, home.landing_root(config.plant_id), range(DAYS))
    days = [sim.date_of(i) for i in range(DAYS)]
    for day in days:
        pipeline.ingest_maintenance(config, home, day)
    pipeline.ingest_days(
        config, home, days, now=pd.Timestamp(days[-1] + dt.timedelta(days=1), tz="UTC")
    )
    for day in days:
        pipeline.build_features(config, home, day)
    feats = Lake(home, config.plant_id).read_range(pipeline.FEATURES)
    lines = {m.id: m.line for m in config.machines}
    for node in config.edge.nodes:
        mine = feats[feats["machine_id"].map(lines) == node.line].reset_index(drop=True)
        scored = pd.DataFrame(
            {
                "prediction_id": [
                    f"{m}@{t.isoformat()}"
                    for m, t in zip(mine["machine_id"], mine["timestamp"], strict=True)
                ],
                "machine_id": mine["machine_id"],
                "timestamp": mine["timestamp"],
                "probability": [0.9 if i % 2 else 0.1 for i in range(len(mine))],
                "alarm": [bool(i % 2) for i in range(len(mine))],
                "model_version": 1,
                "bundle_sha256": "b" * 64,
                "feature_spec_hash": "f" * 16,
                "scored_at": pd.Timestamp("2026-06-11T00:00:00Z"),
                "rul_hours": float("nan"),
            }
        )
        PredictionLog(home.edge(config.plant_id, node.id) / "predictions.sqlite").append(
            scored, config.plant_id, node.id
        )
    return config, home, days


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    """Each test gets its own feedback database (through $FACTORY_MLOPS_FEEDBACK_URL)."""
    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    monkeypatch.setenv(FEEDBACK_URL_ENV, url)
    return url


def _log_alarm(home, config, machine: str, ts: pd.Timestamp) -> bool:
    import sqlite3

    node = (
        "line_1_edge"
        if machine in ("press_01", "press_02", "press_03", "press_04")
        else "line_2_edge"
    )
    with sqlite3.connect(home.edge(config.plant_id, node) / "predictions.sqlite") as conn:
        return bool(
            conn.execute(
                "SELECT alarm FROM predictions WHERE prediction_id = ?",
                (f"{machine}@{ts.isoformat()}",),
            ).fetchone()[0]
        )


def _give(
    config,
    home,
    machine: str,
    ts: pd.Timestamp,
    label: int,
    *,
    by: str = "ana",
    at: pd.Timestamp | None = None,
):
    """Feedback on the prediction of (machine, ts) whose verdict implies `label`."""
    alarm = _log_alarm(home, config, machine, ts)
    verdict = "right" if int(alarm) == label else "wrong"
    created = (at or ts + pd.Timedelta(hours=1)).to_pydatetime()
    return record_feedback(
        config,
        home,
        prediction_id=f"{machine}@{ts.isoformat()}",
        verdict=verdict,
        by=by,
        created_at=created,
    )


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(["machine_id", "timestamp"])


def test_no_feedback_database_changes_nothing_and_is_not_created(lake_home, monkeypatch):
    from factory_mlops.pipeline import assemble_training_set

    config, home, _ = lake_home
    monkeypatch.delenv(FEEDBACK_URL_ENV, raising=False)
    ts = assemble_training_set(config, home)
    assert ts.feedback_ids == ()
    assert not (home.root / "feedback").exists()


def test_feedback_overrides_a_label_and_changes_the_sha256(lake_home, store_url):
    from factory_mlops.pipeline import assemble_training_set

    config, home, days = lake_home
    before = assemble_training_set(config, home)
    assert before.feedback_ids == ()
    row = before.frame[before.frame["timestamp"].dt.date == days[6]].iloc[3]
    flipped = 1 - int(row["label"])
    rec = _give(config, home, row["machine_id"], row["timestamp"], flipped)
    after = assemble_training_set(config, home)
    assert after.feedback_ids == (rec.id,)
    assert after.sha256 != before.sha256
    assert len(after.frame) == len(before.frame)
    a, b = _rows(after.frame), _rows(before.frame)
    key = (row["machine_id"], row["timestamp"])
    assert a.loc[key, "label"] == flipped
    pd.testing.assert_frame_equal(a.drop(index=[key]), b.drop(index=[key]))  # only that label moved
    assert (
        assemble_training_set(config, home).sha256 == after.sha256
    )  # rebuilt later: the same frame
    # the feedback was given on day 7, after the end of day 5: a training set through day 5 does not see it
    through = assemble_training_set(config, home, data_through=days[5])
    assert through.feedback_ids == ()
    assert through.sha256 == assemble_training_set(config, home, data_through=days[5]).sha256


def test_prediction_timestamps_are_feature_row_keys(lake_home, store_url):
    """A prediction's timestamp is its feature row's step end; the row's day is the partition holding it."""
    from factory_mlops.ingest import Lake

    config, home, days = lake_home
    feats = Lake(home, config.plant_id).read("sensor_features", days[2])
    last = feats["timestamp"].max()
    assert last == pd.Timestamp(
        days[3], tz="UTC"
    )  # day D's rows end in (D, D+1]: midnight belongs to D
    assert feature_day(last) == days[2] and feature_day(feats["timestamp"].min()) == days[2]
    rec = _give(config, home, "press_05", last, 1)
    assert rec.prediction_time == last.to_pydatetime() and rec.machine_id == "press_05"


def test_rows_outside_the_window_come_from_the_lake(lake_home, store_url):
    from factory_mlops.edge import PredictionLog
    from factory_mlops.ingest import Lake
    from factory_mlops.pipeline import FEATURES, assemble_training_set

    config, home, days = lake_home
    before = assemble_training_set(config, home)
    lake = Lake(home, config.plant_id)
    old = lake.read(FEATURES, days[1]).iloc[7]  # before the 5-day window
    recent = lake.read(FEATURES, days[9])
    unknown = recent[
        ~recent.set_index(["machine_id", "timestamp"]).index.isin(_rows(before.frame).index)
    ].iloc[0]
    r_old = _give(config, home, old["machine_id"], old["timestamp"], 1)
    r_new = _give(
        config,
        home,
        unknown["machine_id"],
        unknown["timestamp"],
        0,
        at=pd.Timestamp(days[9], tz="UTC") + pd.Timedelta(hours=23),
    )
    # a prediction on a day that never passed the contract (no readings at all): recorded, not joined
    stray_ts = pd.Timestamp("2026-05-20T10:00:00Z")
    PredictionLog(home.edge(config.plant_id, "line_1_edge") / "predictions.sqlite").append(
        pd.DataFrame(
            {
                "prediction_id": ["stray"],
                "machine_id": ["press_01"],
                "timestamp": [stray_ts],
                "probability": [0.9],
                "alarm": [True],
                "model_version": [1],
                "bundle_sha256": ["b" * 64],
                "feature_spec_hash": ["f" * 16],
                "scored_at": [stray_ts],
                "rul_hours": [float("nan")],
            }
        ),
        config.plant_id,
        "line_1_edge",
    )
    r_stray = record_feedback(
        config,
        home,
        prediction_id="stray",
        verdict="wrong",
        by="ana",
        created_at=(stray_ts + pd.Timedelta(hours=1)).to_pydatetime(),
    )
    after = assemble_training_set(config, home)
    assert after.feedback_ids == (r_old.id, r_new.id)
    assert len(after.frame) == len(before.frame) + 2
    a = _rows(after.frame)
    assert a.loc[(old["machine_id"], old["timestamp"]), "label"] == 1.0
    assert a.loc[(unknown["machine_id"], unknown["timestamp"]), "label"] == 0.0
    feature_cols = [
        c for c in before.frame.columns if c not in ("machine_id", "timestamp", "label")
    ]
    assert (
        a.loc[(old["machine_id"], old["timestamp"]), feature_cols].to_numpy(dtype=float).tolist()
        == old[feature_cols].to_numpy(dtype=float).tolist()
    )
    assert after.frame["timestamp"].is_monotonic_increasing and list(after.frame.dtypes) == list(
        before.frame.dtypes
    )
    feats = before.frame.drop(columns="label").iloc[0:0]
    fb = feedback_labels(config, home, feats, data_end=after.window_end)
    assert "did not pass the data contract" in fb.skipped[r_stray.id]


def test_latest_verdict_wins_and_every_verdict_counts_as_used(lake_home, store_url):
    from factory_mlops.pipeline import assemble_training_set

    config, home, days = lake_home
    ts0 = assemble_training_set(config, home)
    row = ts0.frame[ts0.frame["timestamp"].dt.date == days[7]].iloc[0]
    t = row["timestamp"]
    first = _give(config, home, row["machine_id"], t, 1, by="ana", at=t + pd.Timedelta(hours=2))
    second = _give(config, home, row["machine_id"], t, 0, by="ben", at=t + pd.Timedelta(hours=3))
    ts = assemble_training_set(config, home)
    assert ts.feedback_ids == (first.id, second.id)
    assert _rows(ts.frame).loc[(row["machine_id"], t), "label"] == 0.0


def test_rul_plants_record_feedback_but_do_not_join_it(lake_home, store_url):
    from factory_mlops.pipeline import assemble_training_set

    config, home, _ = lake_home
    rul = config.model_copy(
        update={"model": config.model.model_copy(update={"task": "rul", "training_window_days": 8})}
    )
    before = assemble_training_set(rul, home)
    row = before.frame.iloc[len(before.frame) // 2]
    rec = _give(config, home, row["machine_id"], row["timestamp"], 1)
    assert FeedbackStore(store_url).pending_count(config.plant_id) == 1
    after = assemble_training_set(rul, home)
    assert after.feedback_ids == () and after.sha256 == before.sha256
    assert feedback_labels(
        rul, home, before.frame.drop(columns="label"), data_end=after.window_end
    ).rows.empty
    assert rec.id in [r.id for r in FeedbackStore(store_url).pending(config.plant_id)]


def test_id_ranges():
    assert id_ranges([5, 1, 2, 3, 9, 10, 12]) == "1-3,5,9-10,12"
    assert id_ranges([]) == ""
    long = id_ranges(list(range(0, 4000, 2)), limit=50)
    assert len(long) < 90 and long.endswith("more ranges)")

"""PredictionLog: SQLite WAL round trip with exact counts."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_mlops.edge import LOG_COLUMNS, SCORE_COLUMNS, PredictionLog

T0 = pd.Timestamp("2026-06-02T00:00:00", tz="UTC")


def scores(n: int, machines: int = 3, start: pd.Timestamp = T0, seed: int = 0) -> pd.DataFrame:
    """A frame shaped like EdgeModel.score output: n hourly steps x machines."""
    rng = np.random.default_rng(seed)
    ts = np.repeat(pd.date_range(start, periods=n, freq="60min"), machines)
    p = rng.random(n * machines)
    return pd.DataFrame(
        {
            "prediction_id": [uuid.uuid4().hex for _ in range(n * machines)],
            "machine_id": [f"press_{i:02d}" for i in range(machines)] * n,
            "timestamp": ts,
            "probability": p,
            "alarm": p >= 0.5,
            "model_version": 3,
            "bundle_sha256": "f" * 64,
            "feature_spec_hash": "0123456789abcdef",
            "scored_at": pd.Timestamp("2026-06-03T10:11:12.123456", tz="UTC"),
        },
        columns=list(SCORE_COLUMNS),
    )


def test_append_read_count_round_trip(tmp_path: Path):
    log = PredictionLog(tmp_path / "node" / "predictions.sqlite")
    assert log.count() == 0 and log.read().empty
    a = scores(24, seed=1)
    assert log.append(a, "plant_a", "line_1_edge") == 72
    assert log.count() == 72
    back = log.read()
    assert list(back.columns) == list(LOG_COLUMNS)
    # batch scores carry no explanation or service latency: both columns are NULL
    expected = a.assign(
        plant_id="plant_a",
        node_id="line_1_edge",
        contributions=None,
        latency_us=pd.array([None] * len(a), dtype="Int64"),
    )[list(LOG_COLUMNS)]
    expected = expected.sort_values(["timestamp", "machine_id"], ignore_index=True)
    expected["model_version"] = expected["model_version"].astype(np.int64)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["contributions"].isna().all() and back["latency_us"].isna().all()
    assert back["alarm"].dtype == bool and str(back["timestamp"].dt.tz) == "UTC"
    assert back["probability"].to_numpy().tolist() == expected["probability"].tolist()  # exact


def test_filters_and_idempotent_retry(tmp_path: Path):
    log = PredictionLog(tmp_path / "predictions.sqlite")
    a, b = scores(24, seed=1), scores(12, machines=2, start=T0 + pd.Timedelta(days=1), seed=2)
    assert log.append(a, "plant_a", "n1") == 72
    assert log.append(b, "plant_b", "n2") == 24
    assert log.append(a, "plant_a", "n1") == 0  # retried append writes nothing
    assert log.count() == 96 and log.count("plant_b") == 24
    assert len(log.read(plant_id="plant_a")) == 72
    # start < timestamp <= end: the 6 steps 01:00..06:00 of day one, 3 machines each
    window = log.read(start=T0, end=T0 + pd.Timedelta(hours=6))
    assert len(window) == 18
    assert window["timestamp"].min() == T0 + pd.Timedelta(hours=1)
    late = log.read(plant_id="plant_b", start=T0 + pd.Timedelta(days=1, hours=5))
    assert len(late) == 2 * 6
    assert log.append(a.iloc[:0], "plant_a", "n1") == 0


def test_wal_mode_and_missing_columns(tmp_path: Path):
    path = tmp_path / "predictions.sqlite"
    log = PredictionLog(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(KeyError, match="probability"):
        log.append(scores(2).drop(columns="probability"), "plant_a", "n1")
    assert log.count() == 0


_OLD_SCHEMA = """
CREATE TABLE predictions (
    prediction_id TEXT PRIMARY KEY, plant_id TEXT NOT NULL, node_id TEXT NOT NULL,
    machine_id TEXT NOT NULL, timestamp TEXT NOT NULL, probability REAL NOT NULL,
    alarm INTEGER NOT NULL, model_version INTEGER NOT NULL, bundle_sha256 TEXT NOT NULL,
    feature_spec_hash TEXT NOT NULL, scored_at TEXT NOT NULL
);
CREATE INDEX predictions_plant_ts ON predictions (plant_id, timestamp);
CREATE INDEX predictions_ts ON predictions (timestamp);
"""


def test_a_log_written_before_the_rul_task_is_migrated_and_keeps_its_rows(tmp_path: Path):
    """An edge node that logged classifier scores gets a RUL model: the old file takes RUL rows."""
    path = tmp_path / "predictions.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)
        conn.execute(
            "INSERT INTO predictions VALUES ('old1', 'plant_a', 'n1', 'press_00', '2026-06-01T01:00:00.000000Z', "
            "0.25, 0, 1, 'abc', 'spec', '2026-06-01T02:00:00.000000Z')"
        )
    log = PredictionLog(path)
    with sqlite3.connect(path) as conn:
        cols = {r[1]: r[3] for r in conn.execute("PRAGMA table_info(predictions)")}
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(predictions)")}
    assert list(cols) == list(LOG_COLUMNS) and cols["probability"] == 0 and "rul_hours" in cols
    assert cols["contributions"] == 0 and cols["latency_us"] == 0  # added, nullable
    assert {"predictions_plant_ts", "predictions_ts"} <= indexes
    old = log.read()
    assert old["prediction_id"].tolist() == ["old1"] and old["probability"].tolist() == [0.25]
    assert np.isnan(old["rul_hours"].iloc[0])

    rul = scores(2, seed=3).assign(
        probability=np.nan, rul_hours=[80.5, 12.0, 3.25, 40.0, 29.0, 30.0]
    )
    rul["alarm"] = rul["rul_hours"] <= 30
    assert log.append(rul, "plant_a", "n1") == 6
    back = log.read().set_index("prediction_id")
    assert back.loc[rul["prediction_id"], "rul_hours"].tolist() == rul["rul_hours"].tolist()
    assert back.loc[rul["prediction_id"], "probability"].isna().all()
    assert back.loc[rul["prediction_id"], "alarm"].tolist() == [
        False,
        True,
        True,
        False,
        True,
        True,
    ]
    assert PredictionLog(path).count() == 7  # opening the migrated file again changes nothing

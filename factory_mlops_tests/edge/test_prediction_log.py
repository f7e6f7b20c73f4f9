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
    expected = a.assign(plant_id="plant_a", node_id="line_1_edge")[list(LOG_COLUMNS)]
    expected = expected.sort_values(["timestamp", "machine_id"], ignore_index=True)
    expected["model_version"] = expected["model_version"].astype(np.int64)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
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

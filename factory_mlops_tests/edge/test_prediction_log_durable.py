"""The durable prediction log: new columns, migration of older logs, group-commit acknowledgement."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_mlops.edge import LOG_COLUMNS, EdgeModel, PredictionLog
from factory_mlops.edge._prediction_log import (
    GroupCommitWriter,
    LogWriteError,
    PredictionRecord,
    _connect,
)
from factory_mlops_tests.deploy._synthetic import START, synthetic_readings
from factory_mlops_tests.edge.test_service import make_service_bundle

T = pd.Timestamp("2026-06-02T10:00:00", tz="UTC")


def record(machine: str = "press_00", *, rul: bool = False, i: int = 0) -> PredictionRecord:
    return PredictionRecord.build(
        prediction_id=uuid.uuid4().hex,
        plant_id="plant_a",
        node_id="edge_1",
        machine_id=machine,
        timestamp=T + pd.Timedelta(hours=i),
        probability=None if rul else 0.125,
        alarm=rul,
        model_version=4,
        bundle_sha256="e" * 64,
        feature_spec_hash="0123456789abcdef",
        scored_at=pd.Timestamp("2026-06-02T10:00:01.5", tz="UTC"),
        rul_hours=12.5 if rul else None,
        contributions=[{"feature": "a__mean_60m", "value": None, "contribution": 0.5}]
        if not rul
        else None,
        latency_us=850 + i,
    )


def test_records_round_trip_with_every_field(tmp_path: Path):
    log = PredictionLog(tmp_path / "predictions.sqlite")
    clf, reg = record(), record("press_01", rul=True, i=1)
    assert log.append_rows([clf.as_row(), reg.as_row()]) == 2
    assert log.append_rows([clf.as_row()]) == 0  # the id is the key: a retry writes nothing
    back = log.read().set_index("prediction_id")
    a, b = back.loc[clf.prediction_id], back.loc[reg.prediction_id]
    assert (
        a["timestamp"] == T
        and a["probability"] == 0.125
        and np.isnan(a["rul_hours"])
        and not a["alarm"]
    )
    assert json.loads(a["contributions"]) == [
        {"feature": "a__mean_60m", "value": None, "contribution": 0.5}
    ]
    assert a["latency_us"] == 850 and a["node_id"] == "edge_1" and a["model_version"] == 4
    assert a["scored_at"] == pd.Timestamp("2026-06-02T10:00:01.5", tz="UTC")
    assert np.isnan(b["probability"]) and b["rul_hours"] == 12.5 and b["alarm"]
    assert b["contributions"] is None and b["latency_us"] == 851
    assert log.ids() == {clf.prediction_id, reg.prediction_id}
    assert list(PredictionRecord.__dataclass_fields__) == list(LOG_COLUMNS)


def test_explained_batch_scores_are_logged_with_their_contributions(tmp_path: Path):
    model = EdgeModel.load(make_service_bundle(tmp_path / "bundle"))
    readings = synthetic_readings(seed=5, machines=2, days=2).drop(columns="_fail_soon")
    scored = model.score(readings, start=START + pd.Timedelta(days=1), explain_k=3)
    log = PredictionLog(tmp_path / "predictions.sqlite")
    assert log.append(scored, "plant_a", "edge_1") == len(scored) == 48
    back = log.read().set_index("prediction_id").loc[scored["prediction_id"]]
    assert back["contributions"].tolist() == scored["contributions"].tolist()
    assert back["latency_us"].isna().all()


_RUL_SCHEMA = """
CREATE TABLE predictions (
    prediction_id TEXT PRIMARY KEY, plant_id TEXT NOT NULL, node_id TEXT NOT NULL,
    machine_id TEXT NOT NULL, timestamp TEXT NOT NULL, probability REAL,
    alarm INTEGER NOT NULL, model_version INTEGER NOT NULL, bundle_sha256 TEXT NOT NULL,
    feature_spec_hash TEXT NOT NULL, scored_at TEXT NOT NULL, rul_hours REAL
);
CREATE INDEX predictions_plant_ts ON predictions (plant_id, timestamp);
CREATE INDEX predictions_ts ON predictions (timestamp);
"""


def test_a_log_written_before_the_service_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "predictions.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(_RUL_SCHEMA)
        conn.execute(
            "INSERT INTO predictions VALUES ('old1', 'plant_a', 'n1', 'press_00', "
            "'2026-06-01T01:00:00.000000Z', NULL, 1, 2, 'abc', 'spec', '2026-06-01T02:00:00.000000Z', 7.5)"
        )
    log = PredictionLog(path)
    with sqlite3.connect(path) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(predictions)")]
    assert cols == list(LOG_COLUMNS)
    old = log.read()
    assert old["prediction_id"].tolist() == ["old1"] and old["rul_hours"].tolist() == [7.5]
    assert old["contributions"].tolist() == [None] and old["latency_us"].isna().all()
    new = record()
    assert log.append_rows([new.as_row()]) == 1
    assert PredictionLog(path).count() == 2  # opening the migrated file again changes nothing
    assert (
        PredictionLog(path).read().set_index("prediction_id").loc[new.prediction_id, "latency_us"]
        == 850
    )


def test_connections_are_wal_and_synchronous_full(tmp_path: Path):
    log = PredictionLog(tmp_path / "predictions.sqlite")
    conn = _connect(log.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        conn.close()


def _committed(path: Path, prediction_id: str) -> bool:
    """Whether an independent connection sees the row (i.e. its transaction committed)."""
    with sqlite3.connect(path) as conn:
        return (
            conn.execute(
                "SELECT 1 FROM predictions WHERE prediction_id = ?", (prediction_id,)
            ).fetchone()
            is not None
        )


def test_every_acknowledged_row_is_committed_and_rows_share_transactions(tmp_path: Path):
    log = PredictionLog(tmp_path / "predictions.sqlite")
    writer = GroupCommitWriter(log)
    seen_uncommitted: list[str] = []

    async def one(i: int) -> str:
        rec = record(f"press_{i % 50:02d}", i=i)
        await writer.write(rec.as_row())
        if not _committed(log.path, rec.prediction_id):  # checked the moment the ack arrives
            seen_uncommitted.append(rec.prediction_id)
        return rec.prediction_id

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in range(600))))

    try:
        acked = asyncio.run(main())
    finally:
        writer.close()
    assert seen_uncommitted == []
    assert len(set(acked)) == 600 and log.ids() == set(acked) and writer.committed == 600
    assert writer.commits < 100, (
        f"{writer.commits} transactions for 600 concurrent rows: no group commit"
    )


def test_a_failed_transaction_acknowledges_none_of_its_rows(tmp_path: Path):
    log = PredictionLog(tmp_path / "predictions.sqlite")
    with sqlite3.connect(log.path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.machine_id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        )
    writer = GroupCommitWriter(log)

    async def main() -> None:
        with pytest.raises(LogWriteError, match="refused by test"):
            await writer.write(record("bad").as_row())
        await writer.write(record("good").as_row())  # the writer recovers for the next batch

    try:
        asyncio.run(main())
    finally:
        writer.close()
    assert log.read()["machine_id"].tolist() == ["good"]
    assert writer.committed == 1 and "refused by test" in (writer.last_error or "")


def test_close_commits_everything_queued(tmp_path: Path):
    log = PredictionLog(tmp_path / "predictions.sqlite")
    writer = GroupCommitWriter(log, max_batch=64)
    futures = [writer.submit(record(i=i).as_row()) for i in range(300)]
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert log.count() == 300 and writer.commits >= 300 // 64
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(record().as_row())

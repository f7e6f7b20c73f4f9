"""PredictionLog: the edge node's durable, append-only record of every score it produced (SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from factory_mlops.edge._runtime import SCORE_COLUMNS

#: Columns of the `predictions` table (and of `PredictionLog.read`), in order.
LOG_COLUMNS = ("prediction_id", "plant_id", "node_id", *SCORE_COLUMNS[1:])

# `probability` is NULL for a RUL model and `rul_hours` NULL for a classifier.
_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    prediction_id     TEXT PRIMARY KEY,
    plant_id          TEXT NOT NULL,
    node_id           TEXT NOT NULL,
    machine_id        TEXT NOT NULL,
    timestamp         TEXT NOT NULL,
    probability       REAL,
    alarm             INTEGER NOT NULL,
    model_version     INTEGER NOT NULL,
    bundle_sha256     TEXT NOT NULL,
    feature_spec_hash TEXT NOT NULL,
    scored_at         TEXT NOT NULL,
    rul_hours         REAL
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS predictions_plant_ts ON predictions (plant_id, timestamp);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (timestamp);
"""
_SCHEMA = _TABLE.format(name="predictions") + _INDEXES

# Fixed-width UTC text, so SQLite's text order is time order.
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _ts_text(values: pd.Series | pd.Timestamp) -> pd.Series | str:
    if isinstance(values, pd.Timestamp):
        ts = values.tz_localize("UTC") if values.tzinfo is None else values.tz_convert("UTC")
        return ts.strftime(_TS_FORMAT)
    ts = pd.to_datetime(values, utc=True)
    return ts.dt.strftime(_TS_FORMAT)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a log written before the RUL task to the current schema, keeping every row.

    Adds `rul_hours` (ALTER TABLE) and drops the NOT NULL of `probability`, which SQLite can only do
    by copying the table; both happen in one transaction, so a crash leaves the old table intact.
    """
    if not _needs_migration(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        info = _table_info(conn)  # again under the write lock: another process may have migrated
        if "rul_hours" not in info:
            conn.execute("ALTER TABLE predictions ADD COLUMN rul_hours REAL")
        if info["probability"]:
            cols = ", ".join(LOG_COLUMNS)
            conn.execute(_TABLE.format(name="predictions_migrated"))
            conn.execute(f"INSERT INTO predictions_migrated ({cols}) SELECT {cols} FROM predictions")
            conn.execute("DROP TABLE predictions")
            conn.execute("ALTER TABLE predictions_migrated RENAME TO predictions")
            for stmt in filter(None, (x.strip() for x in _INDEXES.split(";"))):
                conn.execute(stmt)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _table_info(conn: sqlite3.Connection) -> dict[str, bool]:
    """Column name -> NOT NULL of the `predictions` table ({} when there is none)."""
    return {row[1]: bool(row[3]) for row in conn.execute("PRAGMA table_info(predictions)").fetchall()}


def _needs_migration(conn: sqlite3.Connection) -> bool:
    info = _table_info(conn)
    return bool(info) and ("rul_hours" not in info or info.get("probability", False))


def _real(value: float) -> float | None:
    """A score for SQLite: NaN (no score of this kind) is stored as NULL."""
    v = float(value)
    return None if np.isnan(v) else v


class PredictionLog:
    """Append-only SQLite log of edge predictions (WAL mode, `synchronous=NORMAL`).

    Timestamps are stored as fixed-width UTC text with microsecond precision. `prediction_id` is
    the primary key: re-appending rows that are already logged writes nothing, so a retried append
    after a crash is safe.

    Args:
        path: the SQLite file; created (with its folder) if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            _migrate(conn)
            conn.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"PredictionLog({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    def append(self, df: pd.DataFrame, plant_id: str, node_id: str) -> int:
        """Append scored rows (the output of `EdgeModel.score`) in one transaction.

        Args:
            df: frame with every column of `SCORE_COLUMNS`.
            plant_id: plant the node belongs to.
            node_id: edge node that produced the scores.

        Returns:
            Number of rows written (rows whose `prediction_id` is already logged are skipped).

        Raises:
            KeyError: `df` lacks a score column.
        """
        missing = [c for c in SCORE_COLUMNS if c not in df.columns]
        if missing:
            raise KeyError(f"prediction frame lacks columns {missing}; pass EdgeModel.score output")
        if len(df) == 0:
            return 0
        rows = pd.DataFrame(
            {
                "prediction_id": df["prediction_id"].astype(str),
                "plant_id": str(plant_id),
                "node_id": str(node_id),
                "machine_id": df["machine_id"].astype(str),
                "timestamp": _ts_text(df["timestamp"]),
                "probability": df["probability"].astype(float),
                "alarm": df["alarm"].astype(bool).astype(int),
                "model_version": df["model_version"].astype(np.int64),
                "bundle_sha256": df["bundle_sha256"].astype(str),
                "feature_spec_hash": df["feature_spec_hash"].astype(str),
                "scored_at": _ts_text(df["scored_at"]),
                "rul_hours": df["rul_hours"].astype(float),
            },
            columns=list(LOG_COLUMNS),
        )
        records = [
            (a, b, c, d, e, _real(f), int(g), int(h), i, j, k, _real(r))
            for a, b, c, d, e, f, g, h, i, j, k, r in rows.itertuples(index=False, name=None)
        ]
        placeholders = ", ".join("?" * len(LOG_COLUMNS))
        sql = (
            f"INSERT OR IGNORE INTO predictions ({', '.join(LOG_COLUMNS)}) VALUES ({placeholders})"
        )
        with self._connect() as conn:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, records)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return conn.total_changes - before

    def read(
        self,
        plant_id: str | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Logged predictions with `start < timestamp <= end` (step ends, like `compute_features`).

        Args:
            plant_id: keep only this plant's rows, if given.
            start: exclusive lower bound on `timestamp`, if given.
            end: inclusive upper bound on `timestamp`, if given.

        Returns:
            DataFrame with `LOG_COLUMNS` sorted by (timestamp, machine_id); `timestamp` and
            `scored_at` are UTC datetimes, `alarm` is bool, `probability` and `rul_hours` are
            float (NaN where the model does not produce that score).
        """
        where, params = [], []
        if plant_id is not None:
            where.append("plant_id = ?")
            params.append(str(plant_id))
        if start is not None:
            where.append("timestamp > ?")
            params.append(_ts_text(pd.Timestamp(start)))
        if end is not None:
            where.append("timestamp <= ?")
            params.append(_ts_text(pd.Timestamp(end)))
        sql = f"SELECT {', '.join(LOG_COLUMNS)} FROM predictions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY timestamp, machine_id, rowid"
        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        out = pd.DataFrame.from_records(rows, columns=list(LOG_COLUMNS))
        out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True, format=_TS_FORMAT)
        out["scored_at"] = pd.to_datetime(out["scored_at"], utc=True, format=_TS_FORMAT)
        out["probability"] = out["probability"].astype(float)
        out["rul_hours"] = out["rul_hours"].astype(float)
        out["alarm"] = out["alarm"].astype(bool)
        out["model_version"] = out["model_version"].astype(np.int64)
        return out

    def count(self, plant_id: str | None = None) -> int:
        """Number of logged predictions (of one plant, if given)."""
        sql, params = "SELECT COUNT(*) FROM predictions", []
        if plant_id is not None:
            sql += " WHERE plant_id = ?"
            params.append(str(plant_id))
        with self._connect() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

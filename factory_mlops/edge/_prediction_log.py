"""PredictionLog: the edge node's durable, append-only record of every score it produced (SQLite).

Two writers share one file per node (`<node_dir>/predictions.sqlite`): the batch path appends a
scored frame per call (`PredictionLog.append`), the edge service appends one row per request
through a `GroupCommitWriter`, which acknowledges a row only after the transaction holding it has
committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.edge._runtime import SCORE_COLUMNS

#: File name of a node's prediction log: `<node_dir>/predictions.sqlite` (batch path and service).
PREDICTION_LOG_FILE = "predictions.sqlite"

#: Columns added after the first schema, nullable, in the order they were added (the migration adds
#: any that are missing with ALTER TABLE, so old logs stay readable and keep their rows).
_ADDED_COLUMNS = (("rul_hours", "REAL"), ("contributions", "TEXT"), ("latency_us", "INTEGER"))

#: Columns of the `predictions` table (and of `PredictionLog.read`), in order.
LOG_COLUMNS = (
    "prediction_id",
    "plant_id",
    "node_id",
    *SCORE_COLUMNS[1:],
    "contributions",
    "latency_us",
)

#: Optional columns of a frame given to `PredictionLog.append` (NULL when absent).
_OPTIONAL_COLUMNS = ("contributions", "latency_us")

# `probability` is NULL for a RUL model and `rul_hours` NULL for a classifier. `contributions` is
# the JSON list of the top feature contributions (NULL when not explained) and `latency_us` the
# service's time from request to prediction (NULL for batch scoring).
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
    rul_hours         REAL,
    contributions     TEXT,
    latency_us        INTEGER
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
    """Bring a log written by an earlier version to the current schema, keeping every row.

    Adds the nullable columns of later versions (`rul_hours`, `contributions`, `latency_us`) with
    ALTER TABLE and drops the NOT NULL of `probability` (written before the RUL task), which SQLite
    can only do by copying the table; everything happens in one transaction, so a crash leaves the
    old table intact.
    """
    if not _needs_migration(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        info = _table_info(conn)  # again under the write lock: another process may have migrated
        for name, sql_type in _ADDED_COLUMNS:
            if name not in info:
                conn.execute(f"ALTER TABLE predictions ADD COLUMN {name} {sql_type}")
        if info.get("probability", False):
            cols = ", ".join(LOG_COLUMNS)
            conn.execute(_TABLE.format(name="predictions_migrated"))
            conn.execute(
                f"INSERT INTO predictions_migrated ({cols}) SELECT {cols} FROM predictions"
            )
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
    return {
        row[1]: bool(row[3]) for row in conn.execute("PRAGMA table_info(predictions)").fetchall()
    }


def _needs_migration(conn: sqlite3.Connection) -> bool:
    info = _table_info(conn)
    if not info:
        return False
    return any(name not in info for name, _ in _ADDED_COLUMNS) or info.get("probability", False)


def _real(value: float) -> float | None:
    """A score for SQLite: NaN (no score of this kind) is stored as NULL."""
    v = float(value)
    return None if np.isnan(v) else v


def _json_text(value: Any) -> str | None:
    """Contributions for SQLite: JSON text as given, a list/dict dumped to JSON, missing -> NULL."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _int_or_none(value: Any) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def ts_text(ts: pd.Timestamp) -> str:
    """A UTC timestamp as the log stores it: fixed-width text whose text order is time order."""
    return str(_ts_text(pd.Timestamp(ts)))


@dataclass(frozen=True)
class PredictionRecord:
    """One row of the `predictions` table, fields in `LOG_COLUMNS` order (SQLite-ready values).

    Build it with `PredictionRecord.build`, which formats timestamps like `PredictionLog.append`.
    """

    prediction_id: str
    plant_id: str
    node_id: str
    machine_id: str
    timestamp: str
    probability: float | None
    alarm: int
    model_version: int
    bundle_sha256: str
    feature_spec_hash: str
    scored_at: str
    rul_hours: float | None
    contributions: str | None
    latency_us: int | None

    @classmethod
    def build(
        cls,
        *,
        prediction_id: str,
        plant_id: str,
        node_id: str,
        machine_id: str,
        timestamp: pd.Timestamp,
        probability: float | None,
        alarm: bool,
        model_version: int,
        bundle_sha256: str,
        feature_spec_hash: str,
        scored_at: pd.Timestamp,
        rul_hours: float | None = None,
        contributions: list[dict[str, Any]] | str | None = None,
        latency_us: int | None = None,
    ) -> PredictionRecord:
        """A record from Python values: NaN/None scores become NULL, contributions JSON text."""
        return cls(
            prediction_id=str(prediction_id),
            plant_id=str(plant_id),
            node_id=str(node_id),
            machine_id=str(machine_id),
            timestamp=ts_text(timestamp),
            probability=None if probability is None else _real(probability),
            alarm=int(bool(alarm)),
            model_version=int(model_version),
            bundle_sha256=str(bundle_sha256),
            feature_spec_hash=str(feature_spec_hash),
            scored_at=ts_text(scored_at),
            rul_hours=None if rul_hours is None else _real(rul_hours),
            contributions=_json_text(contributions),
            latency_us=_int_or_none(latency_us),
        )

    def as_row(self) -> tuple[Any, ...]:
        """The values in `LOG_COLUMNS` order."""
        return tuple(getattr(self, name) for name in LOG_COLUMNS)


_INSERT = (
    f"INSERT OR IGNORE INTO predictions ({', '.join(LOG_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(LOG_COLUMNS))})"
)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN/COMMIT) with full durability settings.

    `synchronous=FULL` in WAL mode fsyncs the WAL at every commit, so a committed row survives a
    power cut, not only a process crash.
    """
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows in one transaction; the number written (already-logged ids are skipped)."""
    before = conn.total_changes
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return conn.total_changes - before


class PredictionLog:
    """Append-only SQLite log of edge predictions (WAL mode, `synchronous=FULL`).

    Timestamps are stored as fixed-width UTC text with microsecond precision. `prediction_id` is
    the primary key: re-appending rows that are already logged writes nothing, so a retried append
    after a crash is safe. A log written by an earlier version is migrated when opened.

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
        conn = _connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def append(self, df: pd.DataFrame, plant_id: str, node_id: str) -> int:
        """Append scored rows (the output of `EdgeModel.score`) in one transaction.

        Args:
            df: frame with every column of `SCORE_COLUMNS`; optionally `contributions` (JSON text
                or a list of dicts per row) and `latency_us` (NULL where absent).
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
        n = len(df)
        none = [None] * n
        contributions = df["contributions"].tolist() if "contributions" in df.columns else none
        latency = df["latency_us"].tolist() if "latency_us" in df.columns else none
        records = [
            (
                str(a),
                str(plant_id),
                str(node_id),
                str(m),
                t,
                _real(p),
                int(bool(al)),
                int(v),
                str(b),
                str(h),
                sa,
                _real(r),
                _json_text(c),
                _int_or_none(lat),
            )
            for a, m, t, p, al, v, b, h, sa, r, c, lat in zip(
                df["prediction_id"],
                df["machine_id"],
                _ts_text(df["timestamp"]),
                df["probability"].astype(float),
                df["alarm"],
                df["model_version"],
                df["bundle_sha256"],
                df["feature_spec_hash"],
                _ts_text(df["scored_at"]),
                df["rul_hours"].astype(float),
                contributions,
                latency,
                strict=True,
            )
        ]
        return self.append_rows(records)

    def append_rows(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Append rows already in `LOG_COLUMNS` order (e.g. `PredictionRecord.as_row()`) in one
        transaction; returns the number written (already-logged ids are skipped)."""
        if not rows:
            return 0
        with self._connect() as conn:
            return _insert(conn, rows)

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
            float (NaN where the model does not produce that score), `contributions` is JSON text
            or None, `latency_us` a nullable integer (`Int64`).
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
        out["contributions"] = (
            out["contributions"].astype(object).where(out["contributions"].notna(), None)
        )
        out["latency_us"] = out["latency_us"].astype("Int64")
        return out

    def count(self, plant_id: str | None = None) -> int:
        """Number of logged predictions (of one plant, if given)."""
        sql, params = "SELECT COUNT(*) FROM predictions", []
        if plant_id is not None:
            sql += " WHERE plant_id = ?"
            params.append(str(plant_id))
        with self._connect() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def ids(self) -> set[str]:
        """Every logged `prediction_id` (for audits: was each acknowledged prediction stored?)."""
        with self._connect() as conn:
            return {r[0] for r in conn.execute("SELECT prediction_id FROM predictions")}


_STOP = object()


class LogWriteError(RuntimeError):
    """The transaction holding a row failed: the row is not stored and must not be acknowledged."""


class GroupCommitWriter:
    """Durable, batched appends for a request/response service: ack only after commit.

    Callers `submit` a row and wait on the returned future; a dedicated writer thread takes every
    row queued since its last commit, inserts them in ONE transaction (WAL, `synchronous=FULL`) and
    only then resolves their futures. Under load many requests share one fsync (group commit), so
    throughput does not collapse to one commit per request, and a resolved future always means the
    row is on disk. If the transaction fails, every future of the batch fails with `LogWriteError`.

    Args:
        log: the prediction log to append to.
        max_batch: most rows in one transaction.

    Example:
        writer = GroupCommitWriter(PredictionLog(path))
        await writer.write(record.as_row())   # returns once the row is committed
        writer.close()                        # drains the queue, then stops the thread
    """

    def __init__(self, log: PredictionLog, *, max_batch: int = 2048) -> None:
        self.log = log
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.committed = 0  # rows committed by this writer
        self.commits = 0  # transactions committed by this writer
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the writer thread (idempotent; `submit` starts it on first use)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the writer of {self.log.path} is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run,
                    name=f"prediction-log-writer:{self.log.path.name}",
                    daemon=True,
                )
                self._thread.start()

    def submit(self, row: tuple[Any, ...]) -> concurrent.futures.Future[None]:
        """Queue a row (values in `LOG_COLUMNS` order); the future resolves after its commit."""
        if self._thread is None:
            self.start()
        if self._closed:
            raise RuntimeError(f"the writer of {self.log.path} is closed")
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((row, fut))
        return fut

    async def write(self, row: tuple[Any, ...]) -> None:
        """Queue a row and wait (without blocking the event loop) until its transaction committed.

        Raises:
            LogWriteError: the transaction failed; the row is not stored.
        """
        await asyncio.wrap_future(self.submit(row))

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit everything queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            stop = False
            while not stop:
                batch: list[tuple[tuple[Any, ...], concurrent.futures.Future[None]]] = []
                item = self._queue.get()
                while True:
                    if item is _STOP:
                        stop = True
                    else:
                        batch.append(item)
                    if stop or len(batch) >= self.max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    conn = self._commit(conn, batch)
        finally:
            if conn is not None:
                conn.close()

    def _commit(
        self,
        conn: sqlite3.Connection | None,
        batch: list[tuple[tuple[Any, ...], concurrent.futures.Future[None]]],
    ) -> sqlite3.Connection | None:
        """Insert the batch in one transaction and resolve its futures; the connection to reuse."""
        try:
            if conn is None:
                conn = _connect(self.log.path)
            _insert(conn, [row for row, _ in batch])
        except Exception as exc:  # every row of the failed transaction is reported as not stored
            self.last_error = f"{type(exc).__name__}: {exc}"
            err = LogWriteError(
                f"prediction log {self.log.path} could not commit: {self.last_error}"
            )
            for _, fut in batch:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(err)
            if conn is not None:
                conn.close()
            return None  # reconnect for the next batch
        self.committed += len(batch)
        self.commits += 1
        for _, fut in batch:
            if fut.set_running_or_notify_cancel():
                fut.set_result(None)
        return conn

"""Read a historian export by configuration: `read_source` and the cheap `peek_days`.

`read_source` never raises for bad data. A file that cannot be read at all comes back with
`file_error` set (the caller quarantines it whole); records broken as text or with times the
adapter cannot place come back in `rejected`; everything else is in `frame`, the canonical
all-string readings frame that the data contract validates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.fileio import sha256_file
from factory_mlops.sources._canonical import MACHINE_ID, TIMESTAMP, time_rules, to_canonical
from factory_mlops.sources._codes import BOOKKEEPING, ROW_NUMBER
from factory_mlops.sources._raw import FileProblem, empty_rejected, read_raw, read_raw_column
from factory_mlops.sources._time import convert_times, utc_dates


@dataclass
class SourceBatch:
    """One export read by configuration.

    Invariant: `records_received == len(rejected) + len(record_frame_row)`. When `file_error` is
    set, `frame` and `rejected` are empty and `records_received` is the number of data records
    if they could be counted, else 0.

    Attributes:
        path: The export file.
        sha256: Hex SHA-256 of the file's bytes ("" if it cannot be read).
        frame: Canonical wide frame, every column object dtype holding str (missing -> ""):
            `timestamp`, `machine_id`, one column per sensor (mapped, unit-converted), each
            present `contract.categories` column, `label` if mapped, `arrival_time` if
            `source.readings.arrival_column` is set, and every other source column that is
            neither mapped nor ignored, under its source name.
        rejected: Source records the adapter rejects: their source columns as str + `reason`,
            `detail`, `row_number` (1-based data-record number in the file, header not counted),
            sorted by `row_number`.
        records_received: Data records in the file (CSV: non-blank lines after the header;
            Parquet: rows).
        frame_row_numbers: int64, len == len(frame): the row_number of each frame row (long
            layout: the smallest row_number of the records pivoted into it).
        record_frame_row: int64, per source record that went into `frame`, the index of its
            frame row (wide: 0..len(frame)-1; long: many records share a row).
        record_row_numbers: int64, the row_number of each of those records.
        file_error: (reason, detail) when the file cannot be read at all, else None.
    """

    path: Path
    sha256: str
    frame: pd.DataFrame
    rejected: pd.DataFrame
    records_received: int
    frame_row_numbers: np.ndarray
    record_frame_row: np.ndarray
    record_row_numbers: np.ndarray
    file_error: tuple[str, str] | None = None


def _sha256(path: Path) -> str:
    """`factory_mlops.fileio.sha256_file`, or "" for a file that cannot be read (the read reports
    that problem itself)."""
    try:
        return sha256_file(path)
    except OSError:
        return ""


def _empty_frame(config: PlantConfig) -> pd.DataFrame:
    columns = [TIMESTAMP, MACHINE_ID, *config.sensor_names]
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _no_rows() -> np.ndarray:
    return np.array([], dtype=np.int64)


def _failed(
    path: Path, sha: str, config: PlantConfig, problem: FileProblem, records: int | None
) -> SourceBatch:
    return SourceBatch(
        path=path,
        sha256=sha,
        frame=_empty_frame(config),
        rejected=empty_rejected([]),
        records_received=int(problem.records if problem.records is not None else records or 0),
        frame_row_numbers=_no_rows(),
        record_frame_row=_no_rows(),
        record_row_numbers=_no_rows(),
        file_error=(problem.reason, problem.detail),
    )


def _combine_rejected(parts: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [p for p in parts if len(p)]
    if not non_empty:
        return parts[0]
    if len(non_empty) == 1:
        return non_empty[0]
    both = pd.concat(non_empty, ignore_index=True)
    ordered = [c for c in both.columns if c not in BOOKKEEPING] + list(BOOKKEEPING)
    return both[ordered].sort_values(ROW_NUMBER, kind="stable").reset_index(drop=True)


def read_source(path: str | Path, config: PlantConfig) -> SourceBatch:
    """Read one historian export as `config.source.readings` describes it.

    Args:
        path: The export (CSV, optionally compressed, or Parquet).
        config: The plant; its `source.readings` block says how the file is written.

    Returns:
        A `SourceBatch`. Bad data never raises: a file that cannot be read at all sets
        `file_error` (`file_unreadable`, `file_empty`, `binary_content`, `encoding_error`,
        `wrong_separator`, `unparseable_file`, `missing_columns`); rejected records carry
        `row_truncated`, `row_malformed`, `timestamp_unparseable`,
        `timestamp_ambiguous_local_time`, `tag_unknown` or `duplicate_record`.
    """
    path = Path(path)
    sha = _sha256(path)
    rd = config.source.readings
    try:
        raw = read_raw(path, rd)
    except FileProblem as problem:
        return _failed(path, sha, config, problem, None)
    try:
        canon = to_canonical(raw.frame, raw.row_numbers, config)
    except FileProblem as problem:
        detail = f"{path}: {problem.detail}"
        return _failed(path, sha, config, FileProblem(problem.reason, detail), raw.records_received)
    rejected = _combine_rejected([raw.rejected, canon.rejected])
    return SourceBatch(
        path=path,
        sha256=sha,
        frame=canon.frame,
        rejected=rejected,
        records_received=raw.records_received,
        frame_row_numbers=np.asarray(canon.frame_row_numbers, dtype=np.int64),
        record_frame_row=np.asarray(canon.record_frame_row, dtype=np.int64),
        record_row_numbers=np.asarray(canon.record_row_numbers, dtype=np.int64),
    )


def peek_days(path: str | Path, config: PlantConfig) -> list[dt.date]:
    """The UTC dates an export covers, read cheaply (only its time column).

    Meant for a sensor that decides which daily partitions a new file touches: only timestamps
    that convert to an instant count (naive ones without `source.readings.time.timezone` do not).

    Args:
        path: The export.
        config: The plant; `config.source.readings` says how time is written.

    Returns:
        Sorted distinct UTC dates; [] if the file cannot be read or has no time column.
    """
    rd = config.source.readings
    rule, _ = time_rules(rd)
    try:
        column = read_raw_column(Path(path), rd, rule.column)
    except (
        FileProblem,
        OSError,
        ValueError,
        UnicodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ):
        return []
    if column is None or not len(column):
        return []
    times = convert_times(column.to_numpy(dtype=object), rule)
    return utc_dates(times.ns[~times.bad])

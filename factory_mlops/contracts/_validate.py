"""Validate a raw (all-string) batch of sensor readings against the plant's data contract.

Pipeline, all vectorised (row-level steps in `_rows`, batch-quality rules in `_quality`,
`_units` and `_bands`):

1. Column check: missing required columns quarantine the whole batch; the optional columns
   (`contract.categories`, `label`, `arrival_time`) are validated and kept; other columns are
   dropped with an `unexpected_columns` warning.
2. Coercion: strings → UTC timestamps, float64 values, 1.0/0.0 labels. Things only visible in the
   strings are flagged here: unparseable timestamps, timestamps without a zone, non-numeric
   values, invalid labels.
3. pandera (`lazy=True`) on the typed frame: future timestamps, timestamps outside the batch day,
   unknown machines and categories, out-of-range values. Failure cases are mapped back to rows.
4. Duplicates: a row whose (timestamp, machine_id) equals that of an earlier row that passed every
   other rule is a `duplicate_row` (the first valid one is kept).
5. Batch-level rules on the split: null rate per sensor, quarantine rate, min rows, ordering,
   another plant's batch, unit mix-ups, persistent out-of-range values, cadence, gaps, latency,
   stuck sensors, spikes and statistical bands; then the `contract.severity` overrides.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.contracts._bands import accepted_stats, band_rules, learn_bands
from factory_mlops.contracts._quality import (
    Series,
    foreign_batch_rule,
    gap_rule,
    latency_rule,
    machine_order,
    out_of_range_persistent_rules,
    sensor_rules,
)
from factory_mlops.contracts._result import ContractFailure, ContractResult
from factory_mlops.contracts._rows import Codes, RowCheck, factorize_strings
from factory_mlops.contracts._schema import (
    MACHINE_ID,
    MACHINE_UNKNOWN,
    MISSING_COLUMN,
    TIMESTAMP,
    UTC_DTYPE,
    VALUE_OUT_OF_RANGE,
    optional_columns,
    required_columns,
    to_utc,
)
from factory_mlops.contracts._severity import apply_severity
from factory_mlops.contracts._units import unit_suspect_rules
from factory_mlops.errors import ContractError

# Quarantine bookkeeping columns appended to the received columns.
REASON = "reason"
DETAIL = "detail"
ROW_NUMBER = "row_number"
_BOOKKEEPING = (REASON, DETAIL, ROW_NUMBER)
_NAT = np.iinfo(np.int64).min


# ---- helpers ---------------------------------------------------------------------------------
def empty_accepted(config: PlantConfig) -> pd.DataFrame:
    """An accepted frame with no rows but the contract's required columns and dtypes
    (timestamp, machine_id, sensors; optional columns appear only when a batch has them)."""
    data: dict[str, pd.Series] = {
        TIMESTAMP: pd.Series([], dtype=UTC_DTYPE),
        MACHINE_ID: pd.Series([], dtype=object),
    }
    for name in config.sensor_names:
        data[name] = pd.Series([], dtype="float64")
    return pd.DataFrame(data)


def _quarantine_frame(
    raw: pd.DataFrame, positions: np.ndarray, reason: np.ndarray | str, detail: np.ndarray | str
) -> pd.DataFrame:
    """Received rows at `positions` (all their columns, as received) + reason/detail/row_number."""
    frame = raw.iloc[positions].reset_index(drop=True)
    # A received column called like a bookkeeping column keeps its data under another name.
    clash = {c: f"received_{c}" for c in frame.columns if c in _BOOKKEEPING}
    if clash:
        frame = frame.rename(columns=clash)
    frame[REASON] = pd.Series(reason, index=frame.index, dtype=object)
    frame[DETAIL] = pd.Series(detail, index=frame.index, dtype=object)
    frame[ROW_NUMBER] = pd.Series(np.asarray(positions, dtype=np.int64) + 1, index=frame.index)
    return frame


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _count_reasons(reasons: np.ndarray) -> dict[str, int]:
    if len(reasons) == 0:
        return {}
    counts = pd.Series(reasons).value_counts()
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {str(k): int(v) for k, v in items}


def _hint_close(missing: Sequence[str], present: Sequence[str]) -> str:
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, [str(p) for p in present], n=1, cutoff=0.6)
        if close:
            hints.append(f"{close[0]!r} → {name!r}")
    return f" Possible renames: {', '.join(hints)}." if hints else ""


# ---- batch-level rules -----------------------------------------------------------------------
def _batch_rules(
    config: PlantConfig,
    *,
    received: int,
    n_acc: int,
    null_counts: Mapping[str, int],
    quarantined: int,
    reasons: dict[str, int],
    backwards: Sequence[tuple[str, int]] = (),
) -> list[ContractFailure]:
    """null_rate, quarantine_rate, min_rows and non_monotonic_timestamps.

    Args:
        config: The plant.
        received: Rows received.
        n_acc: Rows accepted.
        null_counts: Sensor -> empty cells among the accepted rows.
        quarantined: Rows quarantined.
        reasons: Quarantine reason -> rows, most frequent first.
        backwards: (machine id, times its timestamps go backwards in file order), by machine id.
    """
    c = config.contract
    out: list[ContractFailure] = []

    if n_acc:
        for name, n_null in null_counts.items():
            rate = int(n_null) / n_acc
            if rate > c.max_null_rate:
                out.append(
                    ContractFailure(
                        rule=f"null_rate:{name}",
                        severity="error",
                        message=(
                            f"sensor {name!r} is empty in {n_null} of {n_acc} accepted rows "
                            f"({_pct(rate)}), above contract.max_null_rate {_pct(c.max_null_rate)}; "
                            f"check the sensor and its historian tag mapping, or raise "
                            f"contract.max_null_rate in plant.yaml if these dropouts are expected"
                        ),
                        value=float(rate),
                        threshold=float(c.max_null_rate),
                    )
                )

    if received:
        q_rate = quarantined / received
        if q_rate > c.max_quarantine_rate:
            top = ", ".join(f"{r} ({n})" for r, n in list(reasons.items())[:5])
            out.append(
                ContractFailure(
                    rule="quarantine_rate",
                    severity="error",
                    message=(
                        f"{quarantined} of {received} rows ({_pct(q_rate)}) were quarantined, above "
                        f"contract.max_quarantine_rate {_pct(c.max_quarantine_rate)}; top reasons: "
                        f"{top}. Inspect the quarantined rows and fix the export or the plant.yaml "
                        f"machines / sensor ranges, then re-run the batch"
                    ),
                    value=float(q_rate),
                    threshold=float(c.max_quarantine_rate),
                )
            )

    if n_acc < c.min_rows:
        what = "the batch has no data rows" if received == 0 else f"{received} rows received"
        out.append(
            ContractFailure(
                rule="min_rows",
                severity="error",
                message=(
                    f"only {n_acc} rows accepted ({what}), contract.min_rows is {c.min_rows}; "
                    f"check that the historian export covers the batch period and is not truncated"
                ),
                value=float(n_acc),
                threshold=float(c.min_rows),
            )
        )

    n_back = sum(n for _, n in backwards)
    if n_back:
        listed = ", ".join(f"{m} ({n})" for m, n in backwards)
        out.append(
            ContractFailure(
                rule="non_monotonic_timestamps",
                severity="warning",
                message=(
                    f"timestamps go backwards in file order {n_back} time(s): {listed}; the "
                    f"accepted rows were sorted by timestamp, machine_id. Sort the historian "
                    f"export by time if downstream tools read the raw file"
                ),
                value=float(n_back),
                threshold=None,
            )
        )
    return out


def _backwards(rc: RowCheck, ok: np.ndarray, seq: Series) -> list[tuple[str, int]]:
    """Per machine (by id), how often an accepted row's timestamp is earlier than that of the
    machine's previous accepted row in file order.

    `seq` holds the accepted rows in machine, time order; when their file positions increase
    within every machine, each machine's rows are in time order in the file as well.
    """
    if len(seq) < 2:
        return []
    in_file_order = (np.diff(seq.rows) > 0) | (seq.machine[1:] != seq.machine[:-1])
    if in_file_order.all():
        return []
    rows = np.flatnonzero(ok)
    ranks = rc.machine_rank[rows]
    order = machine_order(ranks, len(rc.machine_names))  # stable: file order within a machine
    m, t = ranks[order], rc.ts_ns[rows[order]]
    back = (t[1:] < t[:-1]) & (m[1:] == m[:-1])
    counts = np.bincount(m[1:][back], minlength=len(rc.machine_names))
    return [(str(rc.machine_names[r]), int(counts[r])) for r in np.flatnonzero(counts)]


def _foreign(
    config: PlantConfig, n: int, unknown: np.ndarray, machine: Codes
) -> list[ContractFailure]:
    """`foreign_batch` from the unknown-machine mask and the factorised machine ids."""
    counts = np.bincount(machine.codes[unknown], minlength=len(machine.uniques))
    ids = {str(machine.uniques[i]): int(counts[i]) for i in np.flatnonzero(counts)}
    return foreign_batch_rule(config, n_rows=n, n_unknown=int(unknown.sum()), unknown_ids=ids)


def _quality_rules(
    config: PlantConfig,
    rc: RowCheck,
    ok: np.ndarray,
    seq: Series,
    accepted: pd.DataFrame,
    *,
    arrival: pd.Timestamp | None,
    history: Sequence[Mapping[str, Any]] | None,
) -> list[ContractFailure]:
    """The batch-quality rules after the row-level split, in reporting order."""
    unknown = rc.flags.get(MACHINE_UNKNOWN, np.zeros(rc.n, dtype=bool))
    out = _foreign(config, rc.n, unknown, rc.codes[MACHINE_ID])
    out += unit_suspect_rules(config, rc.values)

    acc = rc.accepted_order
    outside = [s for s in config.sensor_names if VALUE_OUT_OF_RANGE + s in rc.flags]
    if outside:
        # Accepted rows (machine, time order) + the other rows with a valid timestamp and a known
        # machine: the stable sort merges a sorted run with a short tail, close to linear.
        others = np.flatnonzero(rc.timestamp_ok() & ~unknown & ~ok)
        timeline = Series.from_rows(
            np.concatenate([seq.rows, others]),
            machine=rc.machine_rank,
            instant=rc.instant_rank,
            ts=rc.ts_ns,
            values={},
            names=rc.machine_names,
        )
        masks = {
            s: (
                ~np.isnan(rc.values[s])[timeline.rows],
                rc.flags[VALUE_OUT_OF_RANGE + s][timeline.rows],
            )
            for s in outside
        }
        out += out_of_range_persistent_rules(config, timeline, masks, rc.values)

    by_kind = sensor_rules(config, seq)
    out += by_kind["cadence"]
    out += gap_rule(config, seq)

    if config.contract.max_latency_s is not None and len(acc):
        arrival_ns = np.full(len(acc), _NAT, dtype=np.int64)
        sources = []
        if rc.arrival is not None:
            arrival_ns = np.asarray(rc.arrival.asi8, dtype=np.int64)[acc]
            sources.append("arrival_time column")
        if arrival is not None and (arrival_ns == _NAT).any():
            arrival_ns[arrival_ns == _NAT] = arrival.as_unit("ns").value
            sources.append(f"batch arrival {arrival.isoformat()}")
        if sources:
            out += latency_rule(
                config,
                ts=rc.ts_ns[acc],
                arrival=arrival_ns,
                machine=rc.machine_rank[acc],
                names=rc.machine_names,
                source=", else ".join(sources),
            )

    out += by_kind["stuck"]
    out += by_kind["spike"]
    out += band_rules(accepted_stats(accepted, config), learn_bands(history, config))
    return out


# ---- public ----------------------------------------------------------------------------------
def validate_readings(
    raw: pd.DataFrame,
    config: PlantConfig,
    *,
    now: pd.Timestamp | None = None,
    batch_date: dt.date | None = None,
    arrival: pd.Timestamp | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
) -> ContractResult:
    """Validate a raw batch of sensor readings against the plant's data contract.

    Rows that break a row-level rule are quarantined with a reason code (the first in priority
    order: `timestamp_unparseable`, `timestamp_no_timezone`, `timestamp_in_future`,
    `timestamp_outside_batch_day`, `machine_unknown`, `category_unknown:<column>`,
    `label_invalid`, `value_not_numeric:<sensor>`, `value_out_of_range:<sensor>`,
    `duplicate_row`) and a detail listing all of the row's failures; the rest are accepted, typed
    and sorted.

    Batch-level rules are reported as `ContractFailure`s (default severity in brackets):
    `missing_columns` [error], `unexpected_columns` [warning], `null_rate:<sensor>` [error],
    `quarantine_rate` [error], `min_rows` [error], `non_monotonic_timestamps` [warning],
    `foreign_batch` [error], `unit_suspect:<sensor>` [error],
    `out_of_range_persistent:<sensor>` [error], `cadence:<sensor>` [warning], `gap` [warning],
    `latency` [warning], `stuck:<sensor>` [warning], `spike:<sensor>` [warning],
    `band:<sensor>:mean`, `band:<sensor>:std`, `band:label_rate` [warning]. `contract.severity`
    overrides any of them by exact name or by prefix (`stuck`), exact first; `off` drops the
    failure. `missing_columns` keeps its severity, as do the whole-batch rejections of
    `quarantine_whole_batch` (`duplicate_columns`, file-level reasons), which skip the
    overrides.

    Args:
        raw: The batch as read from the historian CSV with every column as string, e.g.
            `pd.read_csv(path, dtype=str, keep_default_na=False)` (empty cell = "" = dropout).
            Besides timestamp, machine_id and the sensors it may have the columns of
            `contract.categories`, `label` (a `source.labels.positive` value, one of
            `LABEL_NEGATIVES`, or empty) and `arrival_time` (ISO 8601 with zone; anything else
            reads as unknown). Non-string columns are converted to strings, missing values to "".
        config: The plant whose machines, sensors and `contract` block define the contract.
        now: Timezone-aware reference instant for `timestamp_in_future`; default: wall clock.
        batch_date: If given, rows whose UTC date differs are quarantined as
            `timestamp_outside_batch_day`.
        arrival: Timezone-aware instant the batch arrived (e.g. the file's mtime); the `latency`
            rule uses it for rows without an `arrival_time`.
        history: `batch_stats()` of the passed batches of the last `bands.history_days` days,
            for learned bands (see `learn_bands`).

    Returns:
        A `ContractResult` with `rows_received == rows_accepted + rows_quarantined`.

    Raises:
        ContractError: If `raw` is not a DataFrame, `now` or `arrival` is naive, or a `history`
            entry is not a mapping.
    """
    if not isinstance(raw, pd.DataFrame):
        raise ContractError(
            f"validate_readings expects a pandas DataFrame, got {type(raw).__name__}; read the "
            f"file with pd.read_csv(path, dtype=str, keep_default_na=False), or use "
            f"quarantine_whole_batch() when it cannot be parsed"
        )
    now_utc = to_utc(now, "now") if now is not None else pd.Timestamp.now(tz="UTC")
    arrival_utc = to_utc(arrival, "arrival") if arrival is not None else None
    version = config.contract_version()
    # Rows are addressed by position throughout; resetting the index would copy the whole batch.
    n = len(raw)

    dup_cols = sorted({str(c) for c in raw.columns[raw.columns.duplicated()]})
    if dup_cols:
        return quarantine_whole_batch(
            raw,
            "duplicate_columns",
            f"the header repeats column(s) {dup_cols}; each column must appear once. Fix the "
            f"export's column mapping so every historian tag maps to one column",
            config,
        )

    required = required_columns(config)
    known = set(required) | set(optional_columns(config))
    received_cols = list(raw.columns)
    missing = [c for c in required if c not in received_cols]
    extra = [c for c in received_cols if c not in known]
    optional = [c for c in optional_columns(config) if c in received_cols]
    failures: list[ContractFailure] = []

    if missing:
        failures.append(
            ContractFailure(
                rule="missing_columns",
                severity="error",
                message=(
                    f"batch is missing required column(s) {missing}; present columns: "
                    f"{[str(c) for c in received_cols]}. Nothing can be accepted. Fix the column "
                    f"mapping or the historian export settings so the header has timestamp, "
                    f"machine_id and one column per sensor of plant.yaml "
                    f"{config.sensor_names}.{_hint_close(missing, [str(c) for c in extra])}"
                ),
                value=", ".join(missing),
                threshold=None,
            )
        )
    if extra:
        failures.append(
            ContractFailure(
                rule="unexpected_columns",
                severity="warning",
                message=(
                    f"batch has column(s) not in the contract: {[str(c) for c in extra]}; they "
                    f"were dropped from the accepted rows. Remove them from the export, or add "
                    f"them to plant.yaml as sensors or contract.categories (this changes the "
                    f"contract version); optional columns are {optional_columns(config)}"
                ),
                value=", ".join(str(c) for c in extra),
                threshold=None,
            )
        )

    if missing:
        positions = np.arange(n, dtype=np.int64)
        detail = "; ".join(MISSING_COLUMN + c for c in missing)
        quarantined = _quarantine_frame(raw, positions, MISSING_COLUMN + missing[0], detail)
        reasons = {MISSING_COLUMN + missing[0]: n} if n else {}
        failures += _batch_rules(
            config,
            received=n,
            n_acc=0,
            null_counts={},
            quarantined=n,
            reasons=reasons,
        )
        if MACHINE_ID in received_cols:
            machine = factorize_strings(raw[MACHINE_ID])
            known_ids = np.isin(machine.uniques, np.asarray(config.machine_ids, dtype=object))
            failures += _foreign(config, n, ~known_ids[machine.codes], machine)
        return ContractResult(
            accepted=empty_accepted(config),
            quarantined=quarantined,
            rows_received=n,
            rows_accepted=0,
            rows_quarantined=n,
            reasons=reasons,
            failures=apply_severity(failures, config.contract.severity),
            contract_version=version,
        )

    rc = RowCheck(raw, config, now_utc, batch_date, optional)
    rc.coerce()
    rc.run_schema()
    rc.find_duplicates()
    ok, positions, row_reasons, row_details = rc.split()

    accepted = rc.accepted_frame(ok)
    # The accepted rows in machine, time order: what the sequence rules run on.
    seq = Series.from_rows(
        rc.accepted_order,
        machine=rc.machine_rank,
        instant=rc.instant_rank,
        ts=rc.ts_ns,
        values=rc.values,
        names=rc.machine_names,
        time_sorted=True,
    )
    quarantined = _quarantine_frame(raw, positions, row_reasons, row_details)
    reasons = _count_reasons(row_reasons)
    failures += _batch_rules(
        config,
        received=n,
        n_acc=len(accepted),
        null_counts={s: int(np.isnan(accepted[s].to_numpy()).sum()) for s in config.sensor_names},
        quarantined=len(positions),
        reasons=reasons,
        backwards=_backwards(rc, ok, seq),
    )
    failures += _quality_rules(config, rc, ok, seq, accepted, arrival=arrival_utc, history=history)
    return ContractResult(
        accepted=accepted,
        quarantined=quarantined,
        rows_received=n,
        rows_accepted=len(accepted),
        rows_quarantined=len(quarantined),
        reasons=reasons,
        failures=apply_severity(failures, config.contract.severity),
        contract_version=version,
    )


def quarantine_whole_batch(
    raw_or_None: pd.DataFrame | None,
    reason: str,
    detail: str,
    config: PlantConfig,
    *,
    rows_received: int | None = None,
) -> ContractResult:
    """Quarantine an entire batch that cannot be validated (e.g. the file cannot be parsed).

    Every row goes to quarantine with `reason` and `detail`; `reason` is also recorded as a
    batch-level failure with severity "error", so the result is `rejected`.

    Args:
        raw_or_None: The batch if it could be read into a frame (its columns are kept in the
            quarantine), else None.
        reason: Reason code, e.g. `unparseable_file`, `encoding_error`.
        detail: What failed and how to fix it; used as the failure message and each row's detail.
        config: The plant (for the contract version and the empty accepted frame).
        rows_received: Number of data lines when known but `raw_or_None` is None (the quarantine
            then holds one row per line with only `reason`, `detail` and `row_number`).
            Default: `len(raw_or_None)`, or 0 without a frame.

    Returns:
        A rejected `ContractResult` with nothing accepted.

    Raises:
        ContractError: If `rows_received` contradicts the length of `raw_or_None`.
    """
    if raw_or_None is not None:
        frame = raw_or_None.reset_index(drop=True)
        if rows_received is not None and rows_received != len(frame):
            raise ContractError(
                f"quarantine_whole_batch: rows_received={rows_received} but the frame has "
                f"{len(frame)} rows; pass one or the other"
            )
    elif rows_received:
        frame = pd.DataFrame(index=pd.RangeIndex(rows_received))
    else:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in required_columns(config)})
    n = len(frame)
    quarantined = _quarantine_frame(frame, np.arange(n, dtype=np.int64), reason, detail)
    return ContractResult(
        accepted=empty_accepted(config),
        quarantined=quarantined,
        rows_received=n,
        rows_accepted=0,
        rows_quarantined=n,
        reasons={reason: n} if n else {},
        failures=[
            ContractFailure(
                rule=reason, severity="error", message=detail, value=None, threshold=None
            )
        ],
        contract_version=config.contract_version(),
    )

"""Validate a raw (all-string) batch of sensor readings against the plant's data contract.

Pipeline, all vectorised:

1. Column check: missing required columns quarantine the whole batch; extra columns are dropped.
2. Coercion: strings → UTC timestamps and float64 values. Things only visible in the strings are
   flagged here: unparseable timestamps, timestamps without a zone, non-numeric values.
3. pandera (`lazy=True`) on the typed frame: future timestamps, timestamps outside the batch day,
   unknown machines, out-of-range values. Failure cases are mapped back to rows by index.
4. Duplicates: a row whose (timestamp, machine_id) equals that of an earlier row that passed every
   other rule is a `duplicate_row` (the first valid one is kept).
5. Batch-level rules on the split: null rate per sensor, quarantine rate, min rows, ordering.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.config import ValidationDepth, config_context

from factory_mlops.config import PlantConfig
from factory_mlops.contracts._result import ContractFailure, ContractResult
from factory_mlops.contracts._schema import (
    DUPLICATE_ROW,
    MACHINE_ID,
    MACHINE_UNKNOWN,
    MISSING_COLUMN,
    TIMESTAMP,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_NO_TIMEZONE,
    TIMESTAMP_OUTSIDE_BATCH_DAY,
    TIMESTAMP_UNPARSEABLE,
    UTC_DTYPE,
    VALUE_NOT_NUMERIC,
    VALUE_OUT_OF_RANGE,
    batch_day_bounds,
    build_row_schema,
    reason_priority,
    required_columns,
    to_utc,
)
from factory_mlops.errors import ContractError

# Quarantine bookkeeping columns appended to the received columns.
REASON = "reason"
DETAIL = "detail"
ROW_NUMBER = "row_number"
_BOOKKEEPING = (REASON, DETAIL, ROW_NUMBER)

# An ISO 8601 time of day followed by a zone designator: `Z`, `±HH`, `±HHMM` or `±HH:MM`.
# Anchored on the time part so the `-01` of a bare date `2026-06-01` is not taken for an offset.
_TZ_SUFFIX = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


# ---- helpers ---------------------------------------------------------------------------------
def _as_str(col: pd.Series) -> pd.Series:
    """The column as Python strings; missing values (None / NaN from a non-string reader) → ""."""
    if col.dtype == object and not col.isna().any():
        return col.astype(str)
    return col.where(col.notna(), "").astype(str)


def empty_accepted(config: PlantConfig) -> pd.DataFrame:
    """An accepted frame with no rows but the contract's columns and dtypes."""
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
    accepted_in_file_order: pd.DataFrame,
    quarantined: int,
    reasons: dict[str, int],
) -> list[ContractFailure]:
    c = config.contract
    out: list[ContractFailure] = []
    n_acc = len(accepted_in_file_order)

    if n_acc:
        null_counts = accepted_in_file_order[config.sensor_names].isna().sum()
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

    if n_acc > 1:
        back = accepted_in_file_order.groupby(MACHINE_ID, sort=False)[
            TIMESTAMP
        ].diff() < pd.Timedelta(0)
        n_back = int(back.sum())
        if n_back:
            per_machine = accepted_in_file_order.loc[back, MACHINE_ID].value_counts().sort_index()
            listed = ", ".join(f"{m} ({n})" for m, n in per_machine.items())
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


# ---- row-level -------------------------------------------------------------------------------
class _RowCheck:
    """Row-level validation of a batch whose required columns are all present."""

    def __init__(
        self,
        raw: pd.DataFrame,
        config: PlantConfig,
        now: pd.Timestamp,
        batch_date: dt.date | None,
    ) -> None:
        self.raw = raw
        self.config = config
        self.n = len(raw)
        self.now = now
        self.limit = now + pd.Timedelta(seconds=config.contract.max_future_s)
        self.batch_date = batch_date
        self.flags: dict[str, np.ndarray] = {}
        self.strings: dict[str, pd.Series] = {}
        self.first_valid: np.ndarray = np.full(self.n, -1, dtype=np.int64)

    def _flag(self, reason: str, mask: np.ndarray) -> None:
        if mask.any():
            if reason in self.flags:
                self.flags[reason] |= mask
            else:
                self.flags[reason] = mask.copy()

    def coerce(self) -> pd.DataFrame:
        """Strings → typed frame; flags what only the strings show."""
        ts_str = _as_str(self.raw[TIMESTAMP]).str.strip()
        self.strings[TIMESTAMP] = ts_str
        has_zone = ts_str.str.contains(_TZ_SUFFIX, regex=True).to_numpy(dtype=bool)
        # Zoned and naive strings are parsed separately: in one array, pandas gives a naive string
        # that follows a '+02:00' string that offset instead of failing. Naive strings are parsed
        # only to tell "no time zone" from "unparseable"; their values are never used.
        ts = pd.Series(pd.NaT, index=ts_str.index, dtype=UTC_DTYPE)
        if has_zone.any():
            ts[has_zone] = pd.to_datetime(
                ts_str[has_zone], format="ISO8601", utc=True, errors="coerce"
            )
        parsed = ts.notna().to_numpy()
        naive = np.zeros(self.n, dtype=bool)
        if not has_zone.all():
            naive[~has_zone] = (
                pd.to_datetime(ts_str[~has_zone], format="ISO8601", errors="coerce", utc=True)
                .notna()
                .to_numpy()
            )
        self._flag(TIMESTAMP_UNPARSEABLE, ~parsed & ~naive)
        self._flag(TIMESTAMP_NO_TIMEZONE, naive)

        machine = _as_str(self.raw[MACHINE_ID])
        self.strings[MACHINE_ID] = machine
        typed: dict[str, pd.Series] = {TIMESTAMP: ts, MACHINE_ID: machine}
        for name in self.config.sensor_names:
            s = _as_str(self.raw[name])
            self.strings[name] = s
            stripped = s.str.strip()
            values = pd.to_numeric(stripped, errors="coerce").astype("float64")
            self._flag(
                VALUE_NOT_NUMERIC + name,
                (values.isna() & (stripped != "")).to_numpy(dtype=bool),
            )
            typed[name] = values
        return pd.DataFrame(typed)

    def run_schema(self, typed: pd.DataFrame) -> None:
        """pandera, lazy: map every failure case (by row index) to its reason code."""
        schema = build_row_schema(self.config, now=self.now, batch_date=self.batch_date)
        failure_cases: pd.DataFrame | None = None
        # Pin the depth: PANDERA_VALIDATION_ENABLED / _DEPTH in the environment must not be able
        # to switch the data checks of the contract off.
        with config_context(
            validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA
        ):
            try:
                schema.validate(typed, lazy=True, inplace=True)
            except pa.errors.SchemaErrors as exc:
                failure_cases = exc.failure_cases
        if failure_cases is None or failure_cases.empty:
            return
        already_bad_ts = np.zeros(self.n, dtype=bool)
        for r in (TIMESTAMP_UNPARSEABLE, TIMESTAMP_NO_TIMEZONE):
            if r in self.flags:
                already_bad_ts |= self.flags[r]
        groups = failure_cases[
            ["schema_context", "column", "check", "check_number"]
        ].drop_duplicates()
        for _, g in groups.iterrows():
            sel = (
                (failure_cases["schema_context"] == g["schema_context"])
                & (failure_cases["column"] == g["column"])
                & (failure_cases["check"] == g["check"])
            )
            idx = pd.to_numeric(failure_cases.loc[sel, "index"], errors="coerce")
            if g["schema_context"] != "Column" or idx.isna().any():
                raise ContractError(
                    f"internal contract error: the typed batch failed schema check {g['check']!r} "
                    f"on {g['column']!r} ({g['schema_context']}); this is a bug in "
                    f"factory_mlops.contracts, please report it with the batch"
                )
            mask = np.zeros(self.n, dtype=bool)
            mask[idx.to_numpy(dtype=np.int64)] = True
            if g["check"] == "not_nullable":
                if g["column"] != TIMESTAMP:
                    raise ContractError(
                        f"internal contract error: nulls in {g['column']!r} after coercion; this "
                        f"is a bug in factory_mlops.contracts, please report it with the batch"
                    )
                # Every NaT comes from a string already flagged; anything else is unparseable.
                self._flag(TIMESTAMP_UNPARSEABLE, mask & ~already_bad_ts)
                continue
            check = schema.columns[g["column"]].checks[int(g["check_number"])]
            self._flag(str(check.name), mask)

    def find_duplicates(self, typed: pd.DataFrame) -> None:
        """Flag rows whose key equals that of an earlier row passing every other rule."""
        ok = np.ones(self.n, dtype=bool)
        for mask in self.flags.values():
            ok &= ~mask
        # int64 nanoseconds: converting tz-aware timestamps to numpy would box every value.
        keys = pd.DataFrame({"t": typed[TIMESTAMP].array.asi8, "m": typed[MACHINE_ID].to_numpy()})
        valid = keys[ok]
        firsts = valid[~valid.duplicated(keep="first")]
        firsts = firsts.assign(first=firsts.index.to_numpy(dtype=np.int64))
        has_ts = typed[TIMESTAMP].notna().to_numpy()
        merged = keys[has_ts].merge(firsts, on=["t", "m"], how="left")
        first = np.full(self.n, -1, dtype=np.int64)
        first[has_ts] = merged["first"].fillna(-1).to_numpy(dtype=np.int64)
        positions = np.arange(self.n)
        dup = (first >= 0) & (first < positions)
        self.first_valid = first
        self._flag(DUPLICATE_ROW, dup)

    def describe(self, reason: str, rows: np.ndarray, typed: pd.DataFrame) -> np.ndarray:
        """Human-readable text of `reason` for the given row positions.

        Texts never contain "; ", the separator of the failures in a row's `detail`.
        """

        def quoted(col: str) -> pd.Series:
            return "'" + self.strings[col].iloc[rows] + "'"

        if reason == TIMESTAMP_UNPARSEABLE:
            text = (
                f"{reason}: "
                + quoted(TIMESTAMP)
                + " is not an ISO 8601 timestamp (expected e.g. 2026-06-01T00:01:00Z)"
            )
        elif reason == TIMESTAMP_NO_TIMEZONE:
            text = (
                f"{reason}: "
                + quoted(TIMESTAMP)
                + " has no time zone (export with a Z or ±HH:MM offset)"
            )
        elif reason == TIMESTAMP_IN_FUTURE:
            text = (
                f"{reason}: "
                + quoted(TIMESTAMP)
                + f" is after now + max_future_s ({self.limit.isoformat()}), check the clock "
                "of the historian / PLC"
            )
        elif reason == TIMESTAMP_OUTSIDE_BATCH_DAY:
            assert self.batch_date is not None
            day = batch_day_bounds(self.batch_date)[0].date().isoformat()
            utc_day = typed[TIMESTAMP].iloc[rows].dt.strftime("%Y-%m-%d")
            text = (
                f"{reason}: "
                + quoted(TIMESTAMP)
                + " falls on "
                + utc_day
                + f" (UTC), the batch is for {day}"
            )
        elif reason == MACHINE_UNKNOWN:
            text = (
                f"{reason}: machine_id "
                + quoted(MACHINE_ID)
                + f" is not a machine of plant {self.config.plant_id!r} (add it to plant.yaml "
                "machines or fix the export)"
            )
        elif reason.startswith(VALUE_NOT_NUMERIC):
            name = reason[len(VALUE_NOT_NUMERIC) :]
            text = (
                f"{reason}: "
                + quoted(name)
                + " is not a number (use '.' as decimal separator, leave dropouts empty)"
            )
        elif reason.startswith(VALUE_OUT_OF_RANGE):
            name = reason[len(VALUE_OUT_OF_RANGE) :]
            s = self.config.sensor(name)
            text = f"{reason}: " + quoted(name) + f" is outside [{s.min:g}, {s.max:g}] {s.unit}"
        elif reason == DUPLICATE_ROW:
            text = (
                f"{reason}: same timestamp and machine_id as data row "
                + pd.Series(self.first_valid[rows] + 1).astype(str).to_numpy(dtype=object)
                + " (kept)"
            )
        else:  # pragma: no cover - every reason code is handled above
            raise ContractError(f"internal contract error: no description for reason {reason!r}")
        return np.asarray(text, dtype=object)

    def split(self, typed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(accepted mask, quarantined positions, their reason, their detail)."""
        present = [r for r in reason_priority(self.config) if r in self.flags]
        if not present:
            empty = np.array([], dtype=object)
            return np.ones(self.n, dtype=bool), np.array([], dtype=np.int64), empty, empty
        matrix = np.column_stack([self.flags[r] for r in present])
        bad = matrix.any(axis=1)
        positions = np.flatnonzero(bad)
        reason = np.asarray(present, dtype=object)[matrix[positions].argmax(axis=1)]
        detail = np.full(len(positions), "", dtype=object)
        for j, r in enumerate(present):
            hit = matrix[positions, j]
            if not hit.any():
                continue
            text = self.describe(r, positions[hit], typed)
            current = detail[hit]
            detail[hit] = np.where(current == "", text, current + "; " + text)
        return ~bad, positions, reason, detail


# ---- public ----------------------------------------------------------------------------------
def validate_readings(
    raw: pd.DataFrame,
    config: PlantConfig,
    *,
    now: pd.Timestamp | None = None,
    batch_date: dt.date | None = None,
) -> ContractResult:
    """Validate a raw batch of sensor readings against the plant's data contract.

    Rows that break a row-level rule are quarantined with a reason code (the first in priority
    order: `timestamp_unparseable`, `timestamp_no_timezone`, `timestamp_in_future`,
    `timestamp_outside_batch_day`, `machine_unknown`, `value_not_numeric:<sensor>`,
    `value_out_of_range:<sensor>`, `duplicate_row`) and a detail listing all of the row's
    failures; the rest are accepted, typed and sorted. Batch-level rules (`missing_columns`,
    `unexpected_columns`, `null_rate:<sensor>`, `quarantine_rate`, `min_rows`,
    `non_monotonic_timestamps`) are reported as `ContractFailure`s.

    Args:
        raw: The batch as read from the historian CSV with every column as string, e.g.
            `pd.read_csv(path, dtype=str, keep_default_na=False)` (empty cell = "" = dropout).
            Non-string columns are converted to strings, missing values to "".
        config: The plant whose machines, sensors and `contract` block define the contract.
        now: Timezone-aware reference instant for `timestamp_in_future`; default: wall clock.
        batch_date: If given, rows whose UTC date differs are quarantined as
            `timestamp_outside_batch_day`.

    Returns:
        A `ContractResult` with `rows_received == rows_accepted + rows_quarantined`.

    Raises:
        ContractError: If `raw` is not a DataFrame or `now` is naive.
    """
    if not isinstance(raw, pd.DataFrame):
        raise ContractError(
            f"validate_readings expects a pandas DataFrame, got {type(raw).__name__}; read the "
            f"file with pd.read_csv(path, dtype=str, keep_default_na=False), or use "
            f"quarantine_whole_batch() when it cannot be parsed"
        )
    now_utc = to_utc(now, "now") if now is not None else pd.Timestamp.now(tz="UTC")
    version = config.contract_version()
    raw = raw.reset_index(drop=True)
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
    received_cols = list(raw.columns)
    missing = [c for c in required if c not in received_cols]
    extra = [c for c in received_cols if c not in required]
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
                    f"the sensor to plant.yaml (this changes the contract version)"
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
        accepted = empty_accepted(config)
        failures += _batch_rules(
            config,
            received=n,
            accepted_in_file_order=accepted,
            quarantined=n,
            reasons=reasons,
        )
        return ContractResult(
            accepted=accepted,
            quarantined=quarantined,
            rows_received=n,
            rows_accepted=0,
            rows_quarantined=n,
            reasons=reasons,
            failures=failures,
            contract_version=version,
        )

    rc = _RowCheck(raw, config, now_utc, batch_date)
    typed = rc.coerce()
    rc.run_schema(typed)
    rc.find_duplicates(typed)
    ok, positions, reason, detail = rc.split(typed)

    in_file_order = typed[ok]
    accepted = in_file_order.sort_values([TIMESTAMP, MACHINE_ID], kind="stable").reset_index(
        drop=True
    )
    quarantined = _quarantine_frame(raw, positions, reason, detail)
    reasons = _count_reasons(reason)
    failures += _batch_rules(
        config,
        received=n,
        accepted_in_file_order=in_file_order,
        quarantined=len(positions),
        reasons=reasons,
    )
    return ContractResult(
        accepted=accepted,
        quarantined=quarantined,
        rows_received=n,
        rows_accepted=len(accepted),
        rows_quarantined=len(quarantined),
        reasons=reasons,
        failures=failures,
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

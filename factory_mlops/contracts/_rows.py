"""Row-level validation of a raw batch whose required columns are all present.

Steps, all vectorised:

1. Coercion: strings → UTC timestamps, float64 values, 1.0/0.0 labels. Things only visible in the
   strings are flagged here: unparseable timestamps, timestamps without a zone, non-numeric
   values, invalid labels. Every string column is factorised once and parsed per *distinct* value
   (a plant-month of 4.3 M rows has 43 k distinct timestamps and 100 machine ids).
2. pandera (`lazy=True`): future timestamps, timestamps outside the batch day, unknown machines,
   unknown categories, out-of-range values. Every check of the row schema is element-wise, so it
   runs on each column's *distinct* typed values and a failing value fails every row holding it.
3. Duplicates: a row whose (timestamp, machine_id) equals that of an earlier row that passed every
   other rule is a `duplicate_row` (the first valid one is kept). Found by sorting integer keys,
   which also yields the accepted rows in (timestamp, machine_id) order.
4. Split: the accepted rows (typed, sorted) and the quarantined positions with reason and detail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.config import ValidationDepth, config_context

from factory_mlops.config import PlantConfig
from factory_mlops.contracts._schema import (
    ARRIVAL_TIME,
    CATEGORY_UNKNOWN,
    DUPLICATE_ROW,
    LABEL,
    LABEL_INVALID,
    LABEL_NEGATIVES,
    MACHINE_ID,
    MACHINE_UNKNOWN,
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
)
from factory_mlops.errors import ContractError

# An ISO 8601 time of day followed by a zone designator: `Z`, `±HH`, `±HHMM` or `±HH:MM`.
# Anchored on the time part so the `-01` of a bare date `2026-06-01` is not taken for an offset.
_TZ_SUFFIX = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_TIMESTAMP_FLAGS = (
    TIMESTAMP_UNPARSEABLE,
    TIMESTAMP_NO_TIMEZONE,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_OUTSIDE_BATCH_DAY,
)
_LIST_MAX = 8  # allowed values / label strings quoted in a row's detail


@dataclass(frozen=True)
class Codes:
    """A column as `uniques[codes]`: its distinct values as Python strings (missing → "") and, per
    row, the index of the row's value among them.

    Attributes:
        codes: intp array, one entry per row.
        uniques: object array of distinct strings.
    """

    codes: np.ndarray
    uniques: np.ndarray

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The strings of the given row positions."""
        return self.uniques[self.codes[rows]]


def factorize_strings(col: pd.Series) -> Codes:
    """Factorise a raw column; non-string values become `str(value)`, missing values ""."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    labels = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    converted = pd.api.types.infer_dtype(labels, skipna=False) not in ("string", "empty")
    if converted:
        labels = labels.astype(str)
    values = labels.to_numpy(dtype=object)
    codes = np.asarray(codes, dtype=np.intp)
    missing = codes < 0
    if missing.any():
        values = np.concatenate([values, np.array([""], dtype=object)])
        codes = np.where(missing, len(values) - 1, codes)
    if converted or missing.any():  # str() or the added "" may equal another distinct value
        remap, distinct = pd.factorize(values)
        codes = np.asarray(remap, dtype=np.intp)[codes]
        values = np.asarray(distinct, dtype=object)
    return Codes(codes, values)


def _strip(values: np.ndarray) -> np.ndarray:
    return pd.Series(values, dtype=object).str.strip().to_numpy(dtype=object)


def parse_zoned(strings: np.ndarray) -> tuple[pd.arrays.DatetimeArray, np.ndarray]:
    """Parse ISO 8601 strings that carry a zone into UTC.

    Returns:
        (instants, naive): NaT where a string has no zone or is not ISO 8601; `naive` marks the
        strings that are valid ISO 8601 timestamps without a zone.
    """
    s = pd.Series(strings, dtype=object)
    has_zone = s.str.contains(_TZ_SUFFIX, regex=True).to_numpy(dtype=bool, na_value=False)
    # Zoned and naive strings are parsed separately: in one array, pandas gives a naive string
    # that follows a '+02:00' string that offset instead of failing. Naive strings are parsed only
    # to tell "no time zone" from "unparseable"; their values are never used.
    ts = pd.Series(pd.NaT, index=s.index, dtype=UTC_DTYPE)
    if has_zone.any():
        ts[has_zone] = pd.to_datetime(s[has_zone], format="ISO8601", utc=True, errors="coerce")
    naive = np.zeros(len(s), dtype=bool)
    if not has_zone.all():
        naive[~has_zone] = (
            pd.to_datetime(s[~has_zone], format="ISO8601", errors="coerce", utc=True)
            .notna()
            .to_numpy()
        )
    return ts.array, naive


def _listing(values: list[str]) -> str:
    shown = ", ".join(values[:_LIST_MAX])
    return shown + (", ..." if len(values) > _LIST_MAX else "")


class RowCheck:
    """Row-level validation of a batch whose required columns are all present.

    Call `coerce`, `run_schema`, `find_duplicates`, then `split`. Afterwards the attributes hold
    what the batch-level rules need: `ts_ns` (int64 UTC nanoseconds per row, meaningful where the
    timestamp parsed), `machine_rank` (per row, the rank of its machine id among the batch's
    distinct ids in string order; `machine_names[rank]` is the id), `values` (typed sensor values
    of every row, before quarantine), `label` / `arrival` (typed, if the batch has the column),
    `flags` (reason → row mask) and `accepted_order` (positions of the accepted rows sorted by
    timestamp, machine_id).
    """

    def __init__(
        self,
        raw: pd.DataFrame,
        config: PlantConfig,
        now: pd.Timestamp,
        batch_date: dt.date | None,
        optional: list[str],
    ) -> None:
        self.raw = raw
        self.config = config
        self.n = len(raw)
        self.now = now
        self.limit = now + pd.Timedelta(seconds=config.contract.max_future_s)
        self.batch_date = batch_date
        self.optional = optional
        self.flags: dict[str, np.ndarray] = {}
        self.codes: dict[str, Codes] = {}
        self.domain: dict[str, np.ndarray | pd.arrays.DatetimeArray] = {}
        self.values: dict[str, np.ndarray] = {}
        self.block: np.ndarray = np.empty((0, self.n), dtype=np.float64)
        self.ts: pd.arrays.DatetimeArray = pd.array([], dtype=UTC_DTYPE)
        self.label: np.ndarray | None = None
        self.arrival: pd.arrays.DatetimeArray | None = None
        self.first_valid: np.ndarray = np.full(self.n, -1, dtype=np.int64)
        self.ts_ns: np.ndarray = np.zeros(self.n, dtype=np.int64)
        self.instant_rank: np.ndarray = np.full(self.n, -1, dtype=np.int64)
        self.machine_rank: np.ndarray = np.zeros(self.n, dtype=np.int64)
        self.machine_names: np.ndarray = np.array([], dtype=object)
        self.accepted_order: np.ndarray = np.array([], dtype=np.intp)

    def _flag(self, reason: str, mask: np.ndarray) -> None:
        if mask.any():
            if reason in self.flags:
                self.flags[reason] |= mask
            else:
                self.flags[reason] = mask.copy()

    def _flag_distinct(self, reason: str, per_unique: np.ndarray, codes: Codes) -> None:
        if per_unique.any():
            self._flag(reason, per_unique[codes.codes])

    # ---- 1. coercion -------------------------------------------------------------------------
    def coerce(self) -> None:
        """Strings → typed values per distinct string and per row; flags what only the strings
        show. Fills `codes`, `domain` (column -> typed value of each distinct string), `ts`,
        `ts_ns`, `instant_rank`, `machine_rank`, `machine_names`, `values`, `label` and
        `arrival`."""
        raw = self.raw
        ts_codes = factorize_strings(raw[TIMESTAMP])
        ts_codes = Codes(ts_codes.codes, _strip(ts_codes.uniques))
        self.codes[TIMESTAMP] = ts_codes
        instants, naive = parse_zoned(ts_codes.uniques)
        self.domain[TIMESTAMP] = instants
        parsed = ~np.asarray(instants.isna())
        self._flag_distinct(TIMESTAMP_UNPARSEABLE, ~parsed & ~naive, ts_codes)
        self._flag_distinct(TIMESTAMP_NO_TIMEZONE, naive, ts_codes)
        self.ts = instants.take(ts_codes.codes)
        self.ts_ns = np.asarray(self.ts.asi8, dtype=np.int64)
        # Rank of each distinct instant; two strings of one instant ('...+02:00', '...Z') share it.
        rank_dtype = np.int32 if self.n < np.iinfo(np.int32).max else np.int64
        rank_u = np.full(len(ts_codes.uniques), -1, dtype=rank_dtype)
        if parsed.any():
            rank_u[parsed] = np.unique(instants.asi8[parsed], return_inverse=True)[1]
        self.instant_rank = rank_u[ts_codes.codes]

        machine = factorize_strings(raw[MACHINE_ID])
        self.codes[MACHINE_ID] = machine
        self.domain[MACHINE_ID] = machine.uniques
        by_name = np.argsort(machine.uniques, kind="stable")
        rank_of_unique = np.empty(len(by_name), dtype=rank_dtype)
        rank_of_unique[by_name] = np.arange(len(by_name))
        self.machine_names = machine.uniques[by_name]
        self.machine_rank = rank_of_unique[machine.codes]

        # One (sensor, row) block: the accepted frame is built from it without re-stacking.
        sensors = self.config.sensor_names
        self.block = np.empty((len(sensors), self.n), dtype=np.float64)
        for j, name in enumerate(sensors):
            col = factorize_strings(raw[name])
            self.codes[name] = col
            stripped = _strip(col.uniques)
            parsed_u = (
                pd.to_numeric(pd.Series(stripped, dtype=object), errors="coerce")
                .astype("float64")
                .to_numpy()
            )
            self.domain[name] = parsed_u
            self._flag_distinct(
                VALUE_NOT_NUMERIC + name, np.isnan(parsed_u) & (stripped != ""), col
            )
            np.take(parsed_u, col.codes, out=self.block[j])
            self.values[name] = self.block[j]
        for name in self.optional:
            col = factorize_strings(raw[name])
            self.codes[name] = col
            if name == LABEL:
                self.domain[name] = self._coerce_label(col)
                self.label = self.domain[name][col.codes]
            elif name == ARRIVAL_TIME:
                self.domain[name] = parse_zoned(_strip(col.uniques))[0]
                self.arrival = self.domain[name].take(col.codes)
            else:  # a categorical column of contract.categories
                self.domain[name] = col.uniques

    def _coerce_label(self, col: Codes) -> np.ndarray:
        stripped = _strip(col.uniques)
        positive = np.isin(stripped, list(self.config.source.labels.positive))
        negative = np.isin(stripped, list(LABEL_NEGATIVES)) & ~positive
        value_u = np.where(positive, 1.0, np.where(negative, 0.0, np.nan))
        self._flag_distinct(LABEL_INVALID, ~positive & ~negative & (stripped != ""), col)
        return value_u

    # ---- 2. pandera --------------------------------------------------------------------------
    def _domain_frame(self, schema: pa.DataFrameSchema) -> pd.DataFrame:
        """One column per checked column holding its distinct typed values, padded to a common
        length with a null (nullable columns) or the first distinct value (the others); row `i`
        of a column is distinct value `i`, or value 0 beyond the column's distinct count."""
        length = max((len(d) for d in self.domain.values()), default=0)
        data: dict[str, object] = {}
        for name, dom in self.domain.items():
            pad = length - len(dom)
            nullable = schema.columns[name].nullable
            if isinstance(dom, pd.arrays.DatetimeArray):
                filler = pd.NaT if nullable or not pad else dom[0]
                data[name] = pd.Series(dom).reindex(range(length), fill_value=filler).array
            else:
                filler = np.nan if nullable or not pad else dom[0]
                data[name] = np.concatenate([dom, np.full(pad, filler, dtype=dom.dtype)])
        return pd.DataFrame(data)

    def run_schema(self) -> None:
        """pandera, lazy, on each column's distinct values: every failing distinct value flags
        the rows that hold it with the check's reason code.

        This is exact because the row schema has only element-wise column checks (no
        uniqueness, no DataFrame-level checks); `build_row_schema` guarantees that.
        """
        schema = build_row_schema(self.config, now=self.now, batch_date=self.batch_date)
        if schema.unique or schema.checks:
            raise ContractError(
                "internal contract error: the row schema must only have element-wise column "
                "checks; this is a bug in factory_mlops.contracts"
            )
        failure_cases: pd.DataFrame | None = None
        domain = self._domain_frame(schema)
        # Pin the depth: PANDERA_VALIDATION_ENABLED / _DEPTH in the environment must not be able
        # to switch the data checks of the contract off.
        with config_context(
            validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA
        ):
            try:
                schema.validate(domain, lazy=True, inplace=True)
            except pa.errors.SchemaErrors as exc:
                failure_cases = exc.failure_cases
        if failure_cases is None or failure_cases.empty:
            return
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
            if g["schema_context"] != "Column" or idx.isna().any() or g["column"] not in self.codes:
                raise ContractError(
                    f"internal contract error: the typed batch failed schema check {g['check']!r} "
                    f"on {g['column']!r} ({g['schema_context']}); this is a bug in "
                    f"factory_mlops.contracts, please report it with the batch"
                )
            codes = self.codes[g["column"]]
            n_distinct = len(self.domain[g["column"]])
            per_unique = np.zeros(n_distinct, dtype=bool)
            positions = idx.to_numpy(dtype=np.int64)
            per_unique[np.where(positions < n_distinct, positions, 0)] = True
            if g["check"] == "not_nullable":
                if g["column"] != TIMESTAMP:
                    raise ContractError(
                        f"internal contract error: nulls in {g['column']!r} after coercion; this "
                        f"is a bug in factory_mlops.contracts, please report it with the batch"
                    )
                # Every NaT comes from a string already flagged; anything else is unparseable.
                mask = per_unique[codes.codes]
                for r in (TIMESTAMP_UNPARSEABLE, TIMESTAMP_NO_TIMEZONE):
                    if r in self.flags:
                        mask &= ~self.flags[r]
                self._flag(TIMESTAMP_UNPARSEABLE, mask)
                continue
            check = schema.columns[g["column"]].checks[int(g["check_number"])]
            self._flag_distinct(str(check.name), per_unique, codes)

    # ---- 3. duplicates -----------------------------------------------------------------------
    def find_duplicates(self) -> None:
        """Flag rows whose key equals that of an earlier row passing every other rule.

        Sorts the otherwise valid rows by the integer key (instant rank, machine rank), stably,
        so equal keys are adjacent in file order; the first of each run is kept and the sorted
        keepers are the accepted rows in (timestamp, machine_id) order.
        """
        ok = np.ones(self.n, dtype=bool)
        for mask in self.flags.values():
            ok &= ~mask
        n_machines = max(len(self.machine_names), 1)
        key = self.instant_rank.astype(np.int64)
        key *= n_machines
        key += self.machine_rank
        valid = np.flatnonzero(ok)
        order = valid[np.argsort(key[valid], kind="stable")]
        sorted_key = key[order]
        repeat = np.zeros(len(order), dtype=bool)
        repeat[1:] = sorted_key[1:] == sorted_key[:-1]
        keepers = order[~repeat]
        first = np.full(self.n, -1, dtype=np.int64)
        if repeat.any():
            run = np.cumsum(~repeat) - 1
            first[order[repeat]] = keepers[run[repeat]]
        # Rows quarantined for another reason are also duplicates of an earlier valid row.
        other = np.flatnonzero(~ok & (self.instant_rank >= 0))
        if len(other) and len(keepers):
            kept_keys = key[keepers]
            pos = np.minimum(np.searchsorted(kept_keys, key[other]), len(keepers) - 1)
            hit = kept_keys[pos] == key[other]
            first[other[hit]] = keepers[pos[hit]]
        dup = np.zeros(self.n, dtype=bool)
        has_first = np.flatnonzero(first >= 0)
        dup[has_first] = first[has_first] < has_first
        self.first_valid = first
        self.accepted_order = keepers
        self._flag(DUPLICATE_ROW, dup)

    # ---- 4. split ----------------------------------------------------------------------------
    def describe(self, reason: str, rows: np.ndarray) -> np.ndarray:
        """Human-readable text of `reason` for the given row positions.

        Texts never contain "; ", the separator of the failures in a row's `detail`.
        """

        def quoted(col: str) -> pd.Series:
            return "'" + pd.Series(self.codes[col].at(rows), index=rows, dtype=object) + "'"

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
            utc_day = pd.Series(self.ts.take(rows).strftime("%Y-%m-%d"), index=rows)
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
        elif reason.startswith(CATEGORY_UNKNOWN):
            name = reason[len(CATEGORY_UNKNOWN) :]
            allowed = _listing([str(v) for v in self.config.contract.categories[name]])
            text = (
                f"{reason}: "
                + quoted(name)
                + f" is not one of contract.categories.{name} ({allowed}); add the value to "
                "plant.yaml or fix the export"
            )
        elif reason == LABEL_INVALID:
            positives = _listing(list(self.config.source.labels.positive))
            text = (
                f"{reason}: "
                + quoted(LABEL)
                + f" is neither a positive label (source.labels.positive: {positives}) nor a "
                f"negative one ({', '.join(LABEL_NEGATIVES)}) nor empty (= not labelled)"
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

    def split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(accepted mask, quarantined positions, their reason, their detail)."""
        present = [r for r in reason_priority(self.config) if r in self.flags]
        if not present:
            empty = np.array([], dtype=object)
            return np.ones(self.n, dtype=bool), np.array([], dtype=np.int64), empty, empty
        matrix = np.column_stack([self.flags[r] for r in present])
        bad = np.asarray(matrix.any(axis=1), dtype=bool)
        positions = np.flatnonzero(bad)
        reason = np.asarray(present, dtype=object)[matrix[positions].argmax(axis=1)]
        detail = np.full(len(positions), "", dtype=object)
        for j, r in enumerate(present):
            hit = matrix[positions, j]
            if not hit.any():
                continue
            text = self.describe(r, positions[hit])
            current = detail[hit]
            detail[hit] = np.where(current == "", text, current + "; " + text)
        return ~bad, positions, reason, detail

    def accepted_frame(self, ok: np.ndarray) -> pd.DataFrame:
        """The accepted rows, typed, sorted by (timestamp, machine_id), index reset."""
        order = self.accepted_order
        if len(order) != int(ok.sum()) or not ok[order].all():
            raise ContractError(
                "internal contract error: the sorted accepted rows do not match the accepted "
                "mask; this is a bug in factory_mlops.contracts, please report it with the batch"
            )
        sensors = self.config.sensor_names
        block = np.empty((len(sensors), len(order)), dtype=np.float64)
        for j in range(len(sensors)):
            np.take(self.block[j], order, out=block[j])
        # A (rows, sensors) view of the block: pandas keeps it as one float block, no copy.
        frame = pd.DataFrame(block.T, columns=sensors, copy=False)
        frame.insert(0, TIMESTAMP, self.ts.take(order))
        frame.insert(1, MACHINE_ID, self.codes[MACHINE_ID].at(order))
        for name in self.optional:
            if name == LABEL:
                assert self.label is not None
                frame[name] = self.label[order]
            elif name == ARRIVAL_TIME:
                assert self.arrival is not None
                frame[name] = self.arrival.take(order)
            else:
                frame[name] = self.codes[name].at(order)
        return frame

    def timestamp_ok(self) -> np.ndarray:
        """Rows whose timestamp passed every timestamp rule (parsed, zoned, not future, in day)."""
        ok = np.ones(self.n, dtype=bool)
        for r in _TIMESTAMP_FLAGS:
            if r in self.flags:
                ok &= ~self.flags[r]
        return ok

"""Map a raw export table (source columns, all str) onto the lake's canonical readings frame.

Driven by `source.readings` of plant.yaml:

- `columns` maps lake names (sensors, `contract.categories`, `label`) to source columns (wide
  layout) or tags (long layout); an unmapped source column or tag already named like a lake name
  maps to itself. Columns in `ignore` are dropped; every other source column is kept under its
  own name (the data contract reports it as unexpected). Nothing is invented: a mapped column
  that is absent is simply not produced (the contract reports it missing).
- `time` and `arrival_column` become canonical UTC strings (`_time`).
- `machine` becomes `machine_id` (a constant, or a column through an optional template).
- `units` (scale, offset) and `decimal` turn sensor values into lake units with a `.` decimal
  point; values that are not numbers stay as they are for the contract to flag.
- `layout: long` pivots (time, machine, tag, value) records into one row per (time, machine);
  `long.tag_pattern` splits a tag into machine and sensor, `long.quality_column` rejects records
  whose quality is not in `long.good_quality`.

Everything is vectorised; Python loops run only over distinct values (machines, tags) or over
rejected records.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from factory_mlops.config import PlantConfig, ReadingsSource, UnitConversion
from factory_mlops.sources._codes import (
    DUPLICATE_RECORD,
    MISSING_COLUMNS,
    QUALITY_BAD,
    TAG_UNKNOWN,
)
from factory_mlops.sources._raw import FileProblem, empty_rejected, rejected_frame
from factory_mlops.sources._time import TimeRule, Times, convert_times

TIMESTAMP = "timestamp"
MACHINE_ID = "machine_id"
LABEL = "label"
ARRIVAL_TIME = "arrival_time"
_SIGNIFICANT_DIGITS = 12  # converted values keep this many significant digits (drops float noise)
_MAX_EXACT_POW10 = 22  # 10**k is exact in float64 up to here
_POW10 = 10.0 ** np.arange(_MAX_EXACT_POW10 + 1)
_LOG10_2 = float(np.log10(2.0))


@dataclass
class Canonical:
    """The canonical frame of the records that survived, with the record -> row bookkeeping.

    Attributes:
        frame: Canonical wide frame, every column object dtype holding str.
        rejected: Records rejected while mapping (source columns + reason, detail, row_number).
        frame_row_numbers: int64, per frame row the smallest row_number of its records.
        record_frame_row: int64, per record that went into `frame`, the index of its row.
        record_row_numbers: int64, the row_number of each of those records.
    """

    frame: pd.DataFrame
    rejected: pd.DataFrame
    frame_row_numbers: np.ndarray
    record_frame_row: np.ndarray
    record_row_numbers: np.ndarray


# ---- rules from the config -------------------------------------------------------------------
def time_rules(rd: ReadingsSource) -> tuple[TimeRule, TimeRule | None]:
    """The rules for the timestamp and the arrival-time column of `rd`."""
    t = rd.time
    key = "source.readings.time"
    if t.index_column is not None:
        assert t.origin is not None and t.period_s is not None  # guaranteed by TimeSource
        timestamp = TimeRule(
            column=t.index_column,
            what=f"time index column {t.index_column!r}",
            period_ns=round(t.period_s * 1e9),
            origin_ns=pd.Timestamp(t.origin).tz_convert("UTC").value,
            key=key,
        )
    else:
        timestamp = TimeRule(
            column=t.column,
            what=f"timestamp column {t.column!r}",
            format=t.format,
            timezone=t.timezone,
            key=key,
        )
    arrival = None
    if rd.arrival_column is not None:
        arrival = TimeRule(
            column=rd.arrival_column,
            what=f"arrival column {rd.arrival_column!r}",
            format=t.format,
            timezone=t.timezone,
            key=key,
        )
    return timestamp, arrival


def lake_names(config: PlantConfig) -> list[str]:
    """Lake columns a source can map, in canonical order: sensors, categories, label."""
    return [*config.sensor_names, *config.contract.categories, LABEL]


# ---- value conversions -----------------------------------------------------------------------
def format_numbers(values: np.ndarray) -> np.ndarray:
    """Finite floats as short decimal strings, rounded to 12-13 significant digits (vectorised).

    The rounding removes the binary noise a unit conversion adds (298.1 - 273.15 is
    24.950000000000045 in floating point, written here as "24.95").
    """
    y = np.asarray(values, dtype=np.float64)
    # 2**(e-1) <= |y| < 2**e, so floor((e-1) * log10(2)) is the decimal exponent or one below it.
    _, e2 = np.frexp(y)
    decimals = _SIGNIFICANT_DIGITS - 1 - np.floor((e2 - 1) * _LOG10_2).astype(np.int64)
    decimals[y == 0] = 0
    rounded = y.copy()
    up = (decimals >= 0) & (decimals <= _MAX_EXACT_POW10)
    down = (decimals < 0) & (decimals >= -_MAX_EXACT_POW10)
    scale = _POW10[np.clip(np.abs(decimals), 0, _MAX_EXACT_POW10)]
    rounded[up] = np.round(y[up] * scale[up]) / scale[up]
    rounded[down] = np.round(y[down] / scale[down]) * scale[down]
    text = pa.array(rounded, type=pa.float64()).cast(pa.string())
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def convert_numbers(values: np.ndarray, unit: UnitConversion | None, decimal: str) -> np.ndarray:
    """Sensor values in lake units: `value * scale + offset`, with `.` as decimal point.

    Values that do not parse as a finite number (after replacing `decimal` by `.`) and empty
    strings stay exactly as received, so the contract can flag them.
    """
    if unit is None and decimal == ".":
        return values
    text = pd.Series(values, dtype=object)  # to_numeric ignores surrounding whitespace
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(x)
    out = np.array(values, dtype=object, copy=True)
    if not ok.any():
        return out
    if unit is None:
        out[ok] = text.to_numpy(dtype=object)[ok]  # the value with a "." decimal point
    else:
        out[ok] = format_numbers(x[ok] * unit.scale + unit.offset)
    return out


def machine_ids(values: np.ndarray, template: str | None) -> np.ndarray:
    """Machine ids: integer values ("1", "1.0") through `template`, anything else unchanged."""
    if template is None:
        return values
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=False)
    u = np.asarray(uniques, dtype=object)
    x = pd.to_numeric(pd.Series(u, dtype=object).str.strip(), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & (x == np.floor(x))
    out = u.copy()
    out[ok] = [template.format(int(v)) for v in x[ok]]
    return out[codes]


def _column(raw: pd.DataFrame, name: str) -> np.ndarray:
    return raw[name].to_numpy(dtype=object)


@dataclass
class _Rejections:
    """Per-record rejection, first reason wins; details of later reasons are appended."""

    reason: np.ndarray
    detail: np.ndarray
    bad: np.ndarray

    @classmethod
    def none(cls, n: int) -> _Rejections:
        return cls(
            np.full(n, "", dtype=object), np.full(n, "", dtype=object), np.zeros(n, dtype=bool)
        )

    def add(self, mask: np.ndarray, reason: np.ndarray | str, detail: np.ndarray | str) -> None:
        if not mask.any():
            return
        reason_arr = np.broadcast_to(np.asarray(reason, dtype=object), mask.shape)
        detail_arr = np.broadcast_to(np.asarray(detail, dtype=object), mask.shape)
        first = mask & ~self.bad
        also = mask & self.bad
        self.reason[first] = reason_arr[first]
        self.detail[first] = detail_arr[first]
        self.detail[also] = self.detail[also] + "; " + detail_arr[also]
        self.bad |= mask

    def add_times(self, times: Times) -> None:
        self.add(times.bad, times.reason, times.detail)


# ---- time, machine ---------------------------------------------------------------------------
@dataclass
class _Keys:
    """Timestamp, machine and arrival time per record (None when the source has no such column)."""

    timestamp: np.ndarray | None
    machine: np.ndarray | None
    arrival: np.ndarray | None


def _keys(
    raw: pd.DataFrame,
    rd: ReadingsSource,
    have: set[str],
    consumed: set[str],
    rejections: _Rejections,
) -> _Keys:
    """Convert the time, machine and arrival columns; marks them consumed, records rejections."""
    n = len(raw)
    ts_rule, arrival_rule = time_rules(rd)
    timestamp = machine = arrival = None
    if ts_rule.column not in have:
        key = "index_column" if rd.time.index_column is not None else "column"
        ignored = " (it is listed in source.readings.ignore)" if ts_rule.column in rd.ignore else ""
        raise FileProblem(
            MISSING_COLUMNS,
            f"the file has no {ts_rule.what}, which source.readings.time.{key} names as the time "
            f"of every reading{ignored}; its columns are {[str(c) for c in raw.columns]}. Point "
            f"source.readings.time.{key} at the column that holds the time, or fix the export",
        )
    if ts_rule.column in have:
        consumed.add(ts_rule.column)
        times = convert_times(_column(raw, ts_rule.column), ts_rule)
        timestamp = times.text
        rejections.add_times(times)
    if rd.layout == "long" and rd.long.tag_pattern is not None:
        pass  # the machine id comes from the tag (`_long`)
    elif rd.machine.constant is not None:
        machine = np.full(n, rd.machine.constant, dtype=object)
    elif rd.machine.column is not None and rd.machine.column in have:
        consumed.add(rd.machine.column)
        machine = machine_ids(_column(raw, rd.machine.column), rd.machine.template)
    if arrival_rule is not None and arrival_rule.column in have:
        consumed.add(arrival_rule.column)
        times = convert_times(_column(raw, arrival_rule.column), arrival_rule)
        arrival = times.text
        rejections.add_times(times)
    return _Keys(timestamp, machine, arrival)


# ---- wide ------------------------------------------------------------------------------------
def _lake_sources(config: PlantConfig, present: list[str], consumed: set[str]) -> dict[str, str]:
    """Lake name -> source column for the lake columns that the file has."""
    rd = config.source.readings
    have = set(present)
    explicit = set(rd.columns.values())
    out: dict[str, str] = {}
    for lake in lake_names(config):
        src = rd.columns.get(lake)
        if src is None and lake not in explicit and lake not in consumed:
            src = lake
        if src is not None and src in have:
            out[lake] = src
    return out


def _free_name(name: str, taken: Container[str]) -> str:
    while name in taken:
        name = f"source_{name}"
    return name


def _wide(raw: pd.DataFrame, row_numbers: np.ndarray, config: PlantConfig) -> Canonical:
    """One frame row per source record that survives; columns mapped, renamed and converted."""
    rd = config.source.readings
    n = len(raw)
    ignore = set(rd.ignore)
    present = [c for c in raw.columns if c not in ignore]
    have = set(present)
    consumed: set[str] = set()
    out: dict[str, np.ndarray] = {}
    rejections = _Rejections.none(n)

    keys = _keys(raw, rd, have, consumed, rejections)
    if keys.timestamp is not None:
        out[TIMESTAMP] = keys.timestamp
    if keys.machine is not None:
        out[MACHINE_ID] = keys.machine

    sensors = set(config.sensor_names)
    sources = _lake_sources(config, present, consumed)
    for lake, src in sources.items():
        values = _column(raw, src)
        if lake in sensors:
            values = convert_numbers(values, rd.units.get(lake), rd.decimal)
        out[lake] = values
    consumed |= set(sources.values())
    if keys.arrival is not None:
        out[ARRIVAL_TIME] = keys.arrival
    for col in present:
        if col not in consumed:
            out[_free_name(col, out)] = _column(raw, col)

    keep = ~rejections.bad
    # copy=False: one block per column, no consolidation copy of millions of object pointers
    frame = pd.DataFrame(out if keep.all() else {k: v[keep] for k, v in out.items()}, copy=False)
    if not out:
        frame = pd.DataFrame(index=pd.RangeIndex(int(keep.sum())))
    kept_numbers = row_numbers[keep]
    rejected = (
        rejected_frame(
            raw[rejections.bad],
            rejections.reason[rejections.bad],
            rejections.detail[rejections.bad],
            row_numbers[rejections.bad],
        )
        if rejections.bad.any()
        else empty_rejected(list(raw.columns))
    )
    return Canonical(
        frame=frame,
        rejected=rejected,
        frame_row_numbers=kept_numbers,
        record_frame_row=np.arange(len(kept_numbers), dtype=np.int64),
        record_row_numbers=kept_numbers,
    )


# ---- long ------------------------------------------------------------------------------------
def _tag_map(config: PlantConfig) -> dict[str, str]:
    """Source tag -> lake name."""
    rd = config.source.readings
    mapping = {tag: lake for lake, tag in rd.columns.items()}
    for lake in lake_names(config):
        if lake not in rd.columns and lake not in mapping:
            mapping[lake] = lake
    return mapping


@dataclass
class _Tags:
    """Per record: lake code (-1 = unknown tag), its tag_unknown detail, the machine from the tag."""

    lake_code: np.ndarray
    detail: np.ndarray
    machine: np.ndarray | None


def _tags(raw: pd.DataFrame, config: PlantConfig, lakes: list[str]) -> _Tags:
    """Map each record's tag to a lake column; with `long.tag_pattern`, split machine and sensor.

    Works on the distinct tags (`str.extract` for the pattern), then spreads to the records.
    """
    rd = config.source.readings
    tag_col, pattern = rd.long.tag_column, rd.long.tag_pattern
    mapping = _tag_map(config)
    codes, uniques = pd.factorize(_column(raw, tag_col), sort=False, use_na_sentinel=False)
    tags_u = np.asarray(uniques, dtype=object)
    hint = "Map it in source.readings.columns (lake name: tag) or remove it from the export"
    if pattern is None:
        keys_u = tags_u
        matched = np.ones(len(tags_u), dtype=bool)
        machine_u = None
    else:
        parts = pd.Series(tags_u, dtype=object).astype(str).str.extract(f"^(?:{pattern})\\Z")
        matched = (parts["machine"].notna() & parts["sensor"].notna()).to_numpy(dtype=bool)
        keys_u = parts["sensor"].fillna("").to_numpy(dtype=object)
        machine_u = machine_ids(
            parts["machine"].fillna("").to_numpy(dtype=object), rd.machine.template
        )
        hint = (
            "Map its sensor part in source.readings.columns (lake name: sensor part of the tag) or "
            "remove it from the export"
        )
    lake_u = np.array(
        [
            lakes.index(mapping[k]) if ok and k in mapping else -1
            for k, ok in zip(keys_u, matched, strict=True)
        ],
        dtype=np.int64,
    )
    detail_u = np.full(len(tags_u), "", dtype=object)
    if (lake_u < 0).any():
        what = "tags" if pattern is None else "sensor parts"
        known = ", ".join(f"{tag!r}" for tag in sorted(mapping))
        for i in np.flatnonzero(lake_u < 0):
            t = tags_u[i]
            if not matched[i]:
                detail_u[i] = (
                    f"{TAG_UNKNOWN}: tag {t!r} in column {tag_col!r} does not match "
                    f"source.readings.long.tag_pattern {pattern!r}. Fix the pattern or remove the "
                    f"tag from the export"
                )
            elif pattern is None:
                detail_u[i] = (
                    f"{TAG_UNKNOWN}: tag {t!r} in column {tag_col!r} is not mapped to a lake "
                    f"column; known {what}: {known}. {hint}"
                )
            else:
                detail_u[i] = (
                    f"{TAG_UNKNOWN}: sensor {keys_u[i]!r} of tag {t!r} in column {tag_col!r} is "
                    f"not mapped to a lake column; known {what}: {known}. {hint}"
                )
    return _Tags(
        lake_code=lake_u[codes],
        detail=detail_u[codes],
        machine=None if machine_u is None else np.asarray(machine_u, dtype=object)[codes],
    )


def _bad_quality(
    quality: np.ndarray, column: str, good: list[str]
) -> tuple[np.ndarray, str, np.ndarray]:
    """(mask, reason, detail) of the records whose quality is not one of `good` (stripped)."""
    codes, uniques = pd.factorize(quality, sort=False, use_na_sentinel=False)
    good_set = set(good)
    bad_u = np.array(
        [not (isinstance(q, str) and q.strip() in good_set) for q in uniques], dtype=bool
    )
    detail_u = np.array(
        [
            f"{QUALITY_BAD}: quality {q!r} is not one of source.readings.long.good_quality {good} "
            f"(column {column!r}). Add it there if such records are usable"
            if b
            else ""
            for q, b in zip(uniques, bad_u, strict=True)
        ],
        dtype=object,
    )
    return bad_u[codes], QUALITY_BAD, detail_u[codes]


def _long(raw: pd.DataFrame, row_numbers: np.ndarray, config: PlantConfig) -> Canonical:
    """Pivot (time, machine, tag, value) records to one row per (timestamp, machine_id).

    Rows come in the order of their first record. A lake column exists when at least one
    record carries its tag (a tag absent from the whole file is a missing column, as in the wide
    layout); cells without a record are "". Columns other than time, machine, tag and value
    (and `arrival_time`) take the value of the row's first record.
    """
    rd = config.source.readings
    n = len(raw)
    long = rd.long
    tag_col, value_col, quality_col = long.tag_column, long.value_column, long.quality_column
    ignore = set(rd.ignore)
    present = [c for c in raw.columns if c not in ignore]
    have = set(present)
    needed = [tag_col, value_col] + ([quality_col] if quality_col is not None else [])
    missing = [c for c in needed if c not in have]
    if missing:
        quality = f", quality_column {quality_col!r}" if quality_col is not None else ""
        raise FileProblem(
            MISSING_COLUMNS,
            f"source.readings.layout is long, but the file has no column(s) {missing} "
            f"(source.readings.long.tag_column {tag_col!r}, value_column {value_col!r}{quality}); "
            f"its columns are {[str(c) for c in raw.columns]}. Fix source.readings.long or set "
            f"layout: wide",
        )
    consumed = set(needed)
    rejections = _Rejections.none(n)

    keys = _keys(raw, rd, have, consumed, rejections)
    ts_text, machine, arrival = keys.timestamp, keys.machine, keys.arrival

    # tag -> lake name (code into `lakes`, -1 = unknown); with a tag_pattern also the machine
    lakes = lake_names(config)
    tags = _tags(raw, config, lakes)
    lake_code = tags.lake_code
    if tags.machine is not None:
        machine = tags.machine
    unknown = lake_code < 0
    if unknown.any():
        rejections.add(unknown, TAG_UNKNOWN, tags.detail)

    if quality_col is not None:
        rejections.add(*_bad_quality(_column(raw, quality_col), quality_col, long.good_quality))

    # values in lake units, per sensor
    values = _column(raw, value_col).copy()
    for i, lake in enumerate(lakes):
        if lake in config.sensor_names and (lake in rd.units or rd.decimal != "."):
            sel = lake_code == i
            if sel.any():
                values[sel] = convert_numbers(values[sel], rd.units.get(lake), rd.decimal)

    # rows: one per (timestamp, machine) in order of first appearance
    ok_idx = np.flatnonzero(~rejections.bad)
    if ts_text is not None:
        key = pd.factorize(ts_text[ok_idx], sort=False)[0].astype(np.int64)
    else:  # no time column: no two records can be known to share a row
        key = np.arange(len(ok_idx), dtype=np.int64)
    if machine is not None:
        m_codes = pd.factorize(machine[ok_idx], sort=False)[0].astype(np.int64)
        key = key * (int(m_codes.max(initial=0)) + 1) + m_codes
    row_of_ok = pd.factorize(key, sort=False)[0].astype(np.int64)

    # a second record for the same (row, tag) is a duplicate; the first one is kept
    cell = row_of_ok * len(lakes) + lake_code[ok_idx]
    cell_codes, _ = pd.factorize(cell, sort=False)
    _, first_of_cell = np.unique(cell_codes, return_index=True)
    first_pos = first_of_cell[cell_codes]
    dup_local = first_pos != np.arange(len(ok_idx))
    if dup_local.any():
        dup = np.zeros(n, dtype=bool)
        dup[ok_idx[dup_local]] = True
        kept_numbers = row_numbers[ok_idx[first_pos[dup_local]]]
        detail = np.asarray(
            [
                f"{DUPLICATE_RECORD}: same time, machine and tag as data record {k} (kept)"
                for k in kept_numbers
            ],
            dtype=object,
        )
        rejections.add(dup, DUPLICATE_RECORD, _spread(dup, detail))

    acc_local = ~dup_local
    acc_idx = ok_idx[acc_local]
    acc_row = row_of_ok[acc_local]
    n_rows = int(acc_row.max(initial=-1)) + 1
    _, first_rec = np.unique(acc_row, return_index=True)
    first_idx = acc_idx[first_rec]

    out: dict[str, np.ndarray] = {}
    if ts_text is not None:
        out[TIMESTAMP] = ts_text[first_idx]
    if machine is not None:
        out[MACHINE_ID] = machine[first_idx]
    acc_lake = lake_code[acc_idx]
    for i, lake in enumerate(lakes):
        sel = acc_lake == i
        if sel.any():
            col = np.full(n_rows, "", dtype=object)
            col[acc_row[sel]] = values[acc_idx[sel]]
            out[lake] = col
    if arrival is not None:
        out[ARRIVAL_TIME] = arrival[first_idx]
    for col_name in present:
        if col_name not in consumed:
            out[_free_name(col_name, out)] = _column(raw, col_name)[first_idx]
    frame = pd.DataFrame(out, copy=False) if out else pd.DataFrame(index=pd.RangeIndex(n_rows))

    bad = rejections.bad
    rejected = (
        rejected_frame(raw[bad], rejections.reason[bad], rejections.detail[bad], row_numbers[bad])
        if bad.any()
        else empty_rejected(list(raw.columns))
    )
    return Canonical(
        frame=frame,
        rejected=rejected,
        frame_row_numbers=row_numbers[first_idx].astype(np.int64),
        record_frame_row=acc_row,
        record_row_numbers=row_numbers[acc_idx].astype(np.int64),
    )


def _spread(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values` (one per True of `mask`) placed into a full-length object array."""
    out = np.full(len(mask), "", dtype=object)
    out[mask] = values
    return out


def to_canonical(raw: pd.DataFrame, row_numbers: np.ndarray, config: PlantConfig) -> Canonical:
    """Map a raw table onto the canonical readings frame of the plant.

    Args:
        raw: Source columns, every value a str.
        row_numbers: int64 1-based data-record number of each row of `raw`.
        config: The plant; `config.source.readings` drives the mapping.

    Returns:
        The canonical frame and the records rejected while mapping.

    Raises:
        FileProblem: `missing_columns` when a long-layout file lacks its tag or value column.
    """
    if config.source.readings.layout == "long":
        return _long(raw, row_numbers, config)
    return _wide(raw, row_numbers, config)

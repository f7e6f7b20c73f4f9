"""Turn the time column of a historian export into canonical UTC timestamp strings.

Three ways a source writes time (`source.readings.time` in plant.yaml):

- ISO 8601 (no `format`): strings with a zone (`Z`, `±HH:MM`) are converted to UTC; naive strings
  are localized in `timezone` when it is set and passed through unchanged otherwise (the data
  contract flags them `timestamp_no_timezone`). Strings that do not parse pass through unchanged
  (the contract flags them `timestamp_unparseable`).
- a strftime `format`: a string that does not match is rejected here (`timestamp_unparseable`).
- an integer `index_column` (cycle, sample number): `origin + index * period_s`.

Local times that do not exist or are ambiguous in `timezone` (daylight-saving changes) are
rejected as `timestamp_ambiguous_local_time`. Every instant is written as
`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`. All work is done once per distinct string (a plant writes the same
timestamp for each of its machines), then broadcast back to the records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory_mlops.sources._codes import TIMESTAMP_AMBIGUOUS_LOCAL_TIME, TIMESTAMP_UNPARSEABLE

NAT = np.iinfo(np.int64).min  # pandas' NaT as int64 nanoseconds
_NS_PER_US = 1_000
_US_PER_S = 1_000_000
_NS_PER_DAY = 86_400 * 1_000_000_000
_NS_LIMIT = 9.2e18  # |ns since epoch| below this fits datetime64[ns]

# An ISO 8601 time of day followed by a zone designator, exactly as the data contract reads it.
_TZ_SUFFIX = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
# Anything ending like an offset: such strings are never localized, even if the contract's
# stricter pattern above does not recognise them (e.g. a date with an offset but no time).
_ANY_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


@dataclass(frozen=True)
class TimeRule:
    """How one time column of the source is read.

    Attributes:
        column: Source column holding the time.
        what: How the column is named in rejection details, e.g. "timestamp column 'Zeit'".
        format: strftime format; None = ISO 8601.
        timezone: IANA zone of naive values; None = naive values pass through unchanged.
        period_ns: Set for an integer index column: nanoseconds per index step.
        origin_ns: UTC nanoseconds of index 0 (with `period_ns`).
        key: The plant.yaml key a rejection detail points to.
    """

    column: str
    what: str
    format: str | None = None
    timezone: str | None = None
    period_ns: int | None = None
    origin_ns: int = 0
    key: str = "source.readings.time"


@dataclass
class Times:
    """A converted time column, one entry per record.

    Attributes:
        text: Canonical `...Z` string, or the value as received when it is passed through.
        ns: UTC nanoseconds since the epoch, `NAT` where the value is not an instant.
        bad: True where the record is rejected.
        reason: Reason code where `bad`, else "".
        detail: What is wrong and how to fix it where `bad`, else "".
    """

    text: np.ndarray
    ns: np.ndarray
    bad: np.ndarray
    reason: np.ndarray
    detail: np.ndarray


def format_instants(ns: np.ndarray, *, zone: bool = True) -> np.ndarray:
    """Format nanoseconds since the epoch as `YYYY-MM-DDTHH:MM:SS[.ffffff]` (+ `Z` if `zone`).

    Fractions are kept to the microsecond and left out when zero. `NAT` entries become "".

    Args:
        ns: int64 nanoseconds (UTC for `zone=True`, wall-clock time otherwise).
        zone: Append the UTC designator `Z`.

    Returns:
        Object array of str, same length as `ns`.
    """
    ns = np.asarray(ns, dtype=np.int64)
    out = np.full(len(ns), "", dtype=object)
    ok = ns != NAT
    if not ok.any():
        return out
    us = ns[ok] // _NS_PER_US
    stamps = us.astype("datetime64[us]")
    whole = us % _US_PER_S == 0
    if whole.all():
        text = np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s")
    else:
        text = np.datetime_as_string(stamps, unit="us")
        text[whole] = np.datetime_as_string(stamps[whole].astype("datetime64[s]"), unit="s")
    if zone:
        text = np.char.add(text, "Z")
    out[ok] = text.astype(object)
    return out


def utc_dates(ns: np.ndarray) -> list[dt.date]:
    """Sorted distinct UTC calendar dates of the instants in `ns` (NAT entries ignored)."""
    ns = np.asarray(ns, dtype=np.int64)
    days = np.unique(ns[ns != NAT] // _NS_PER_DAY)
    epoch = dt.date(1970, 1, 1)
    return [epoch + dt.timedelta(days=int(d)) for d in days]


def convert_times(values: pd.Series | np.ndarray, rule: TimeRule) -> Times:
    """Convert a time column (strings) to canonical UTC strings by `rule`.

    Args:
        values: The column as received, one str per record.
        rule: How the column is written.

    Returns:
        The converted column with per-record rejections (`timestamp_unparseable` for a
        non-integer index or a value not matching `rule.format`, `timestamp_ambiguous_local_time`
        for a local time that does not exist or is ambiguous in `rule.timezone`).
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=False)
    u = np.asarray(uniques, dtype=object)
    text, ns, reason, detail = _convert_unique(u, rule)
    bad = reason != ""
    return Times(
        text=text[codes], ns=ns[codes], bad=bad[codes], reason=reason[codes], detail=detail[codes]
    )


def _convert_unique(
    u: np.ndarray, rule: TimeRule
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(text, ns, reason, detail) for each distinct value."""
    n = len(u)
    text = u.copy()
    ns = np.full(n, NAT, dtype=np.int64)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    if n == 0:
        return text, ns, reason, detail
    stripped = pd.Series(u, dtype=object).str.strip()

    def reject(mask: np.ndarray, code: str, why: str) -> None:
        if mask.any():
            reason[mask] = code
            detail[mask] = f"{code}: {rule.what} value " + _quoted(u[mask]) + why

    if rule.period_ns is not None:
        x = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x) & (x == np.floor(x))
            ok &= np.abs(x) * rule.period_ns < _NS_LIMIT - abs(rule.origin_ns)
        ns[ok] = rule.origin_ns + x[ok].astype(np.int64) * rule.period_ns
        text[ok] = format_instants(ns[ok])
        reject(
            ~ok,
            TIMESTAMP_UNPARSEABLE,
            f" is not an integer index (or out of range) for {rule.key}.index_column; fix the "
            f"export or point {rule.key}.index_column at the cycle/sample column",
        )
        return text, ns, reason, detail

    if rule.format is not None:
        zoned_format = "%z" in rule.format or "%Z" in rule.format
        parsed = pd.to_datetime(stripped, format=rule.format, errors="coerce", utc=zoned_format)
        ok = parsed.notna().to_numpy()
        reject(
            ~ok,
            TIMESTAMP_UNPARSEABLE,
            f" does not match {rule.key}.format {rule.format!r}; fix the export or the format",
        )
        values = parsed.array.asi8
        if zoned_format:
            ns[ok] = values[ok]
            text[ok] = format_instants(ns[ok])
        elif rule.timezone is not None:
            _localize(values, ok, rule, ns, text, reject)
        else:  # naive and no zone configured: ISO without zone, the contract flags it
            text[ok] = format_instants(values[ok], zone=False)
        return text, ns, reason, detail

    zoned = stripped.str.contains(_TZ_SUFFIX, regex=True).to_numpy(dtype=bool)
    if zoned.any():
        parsed = pd.to_datetime(stripped[zoned], format="ISO8601", utc=True, errors="coerce")
        values = parsed.array.asi8
        ok = values != NAT
        idx = np.flatnonzero(zoned)[ok]
        ns[idx] = values[ok]
        text[idx] = format_instants(values[ok])
    if rule.timezone is not None:
        naive = ~zoned
        if naive.any():
            offset = stripped[naive].str.contains(_ANY_OFFSET, regex=True).to_numpy(dtype=bool)
            naive[np.flatnonzero(naive)[offset]] = False
        if naive.any():
            # utc=True only to parse every naive string the same way; the wall-clock value is
            # localized below (strings that fail to parse pass through to the contract).
            parsed = pd.to_datetime(stripped[naive], format="ISO8601", utc=True, errors="coerce")
            wall = np.full(n, NAT, dtype=np.int64)
            wall[naive] = parsed.array.asi8
            _localize(wall, wall != NAT, rule, ns, text, reject)
    return text, ns, reason, detail


def _localize(
    wall: np.ndarray,
    ok: np.ndarray,
    rule: TimeRule,
    ns: np.ndarray,
    text: np.ndarray,
    reject: Callable[[np.ndarray, str, str], None],
) -> None:
    """Read wall-clock nanoseconds at `ok` in `rule.timezone`; write UTC `ns`/`text` or reject."""
    idx = np.flatnonzero(ok)
    if not len(idx):
        return
    local = pd.DatetimeIndex(wall[idx].astype("datetime64[ns]")).tz_localize(
        rule.timezone, nonexistent="NaT", ambiguous="NaT"
    )
    utc = local.asi8
    good = utc != NAT
    ns[idx[good]] = utc[good]
    text[idx[good]] = format_instants(utc[good])
    bad = np.zeros(len(ns), dtype=bool)
    bad[idx[~good]] = True
    reject(
        bad,
        TIMESTAMP_AMBIGUOUS_LOCAL_TIME,
        f" does not exist or is ambiguous in {rule.timezone} (daylight-saving change); export "
        f"UTC or times with an offset, or check {rule.key}.timezone",
    )


def _quoted(values: np.ndarray) -> np.ndarray:
    return np.asarray(["'" + str(v) + "'" for v in values], dtype=object)

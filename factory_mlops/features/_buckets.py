"""Per-step buckets of one machine's readings: the sufficient statistics every window is built from.

Readings are grouped by step (`bucket = timestamp // step`). Each bucket keeps, per channel, the
count of valid readings, their mean and centred sum of squares, the mean and centred moments of the
reading time inside the bucket (for trends), the first and last valid reading, min and max, and the
exponentially decayed sums EWMA needs. Everything is computed from the bucket's own rows only, so a
bucket is the same numbers whether it was built from a month of history or from a short raw window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NS_PER_HOUR = 3_600_000_000_000


@dataclass
class Buckets:
    """Dense bucket grid `first .. first + nb - 1` (absolute bucket numbers) of one machine.

    Arrays are (nb, n_channels); empty buckets have n = 0, NaN means and zero sums.
    """

    first: int
    step_h: float
    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    tmean: np.ndarray  # mean reading time, hours since bucket start
    m2t: np.ndarray
    ctx: np.ndarray  # sum of (t - tmean)(x - mean)
    mn: np.ndarray
    mx: np.ndarray
    first_val: np.ndarray
    first_t: np.ndarray
    last_val: np.ndarray
    last_t: np.ndarray
    has_rows: np.ndarray  # (nb,) the machine reported at all in the bucket
    ewma: dict[
        float, tuple[np.ndarray, np.ndarray]
    ]  # tau_h -> (sum w x, sum w), w = exp(-(end - t)/tau)

    @property
    def nb(self) -> int:
        return int(self.n.shape[0])


def bucket_needs(spec: object) -> dict[str, bool]:
    """Which optional bucket moments a spec's statistics need (see `build_buckets`)."""
    stats = set(getattr(spec, "stats", ()))
    return {"trend": "slope" in stats, "ends": bool({"last", "roc"} & stats)}


def _scatter(dense_rows: np.ndarray, values: np.ndarray, nb: int, fill: float) -> np.ndarray:
    if len(dense_rows) == nb:  # no empty bucket in between: already dense
        return values
    out = np.full((nb, *values.shape[1:]), fill)
    out[dense_rows] = values
    return out


def build_buckets(
    ts_ns: np.ndarray,
    values: np.ndarray,
    step_ns: int,
    ewma_taus_h: tuple[float, ...] = (),
    *,
    trend: bool = True,
    ends: bool = True,
) -> Buckets:
    """Reduce one machine's time-sorted readings (`values` is (n, channels), NaN = missing).

    `trend=False` skips the time moments (no slope needed: they are left at zero), `ends=False`
    the first/last readings (no `last`/`roc` needed: left NaN).
    """
    step_h = step_ns / NS_PER_HOUR
    bucket = ts_ns // step_ns
    first = int(bucket[0])
    nb = int(bucket[-1]) - first + 1
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    rows_b = (bucket[starts] - first).astype(np.int64)  # dense position of each non-empty bucket
    counts_rows = np.diff(np.r_[starts, len(bucket)])
    tau = ((ts_ns - bucket * step_ns) / NS_PER_HOUR)[:, None]  # hours since bucket start
    valid = ~np.isnan(values)
    vf = valid.astype(float)
    x0 = np.where(valid, values, 0.0)
    red = np.add.reduceat
    n = red(vf, starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = red(x0, starts, axis=0) / n
    rep = (
        np.repeat(np.arange(len(starts)), counts_rows) if len(starts) < len(bucket) else slice(None)
    )
    dx = np.where(valid, values - mean[rep], 0.0)
    m2 = red(dx * dx, starts, axis=0)
    if trend:
        t0 = np.where(valid, tau, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            tmean = red(t0, starts, axis=0) / n
        dt = np.where(valid, tau - tmean[rep], 0.0)
        m2t = red(dt * dt, starts, axis=0)
        ctx = red(dt * dx, starts, axis=0)
    else:
        tmean = np.where(n > 0, 0.0, np.nan)
        m2t = ctx = np.zeros_like(n)
    mn = np.minimum.reduceat(np.where(valid, values, np.inf), starts, axis=0)
    mx = np.maximum.reduceat(np.where(valid, values, -np.inf), starts, axis=0)
    if ends:
        idx = np.arange(len(ts_ns))[:, None]
        big = len(ts_ns)
        fi = np.minimum.reduceat(np.where(valid, idx, big), starts, axis=0)
        li = np.maximum.reduceat(np.where(valid, idx, -1), starts, axis=0)
        cols = np.arange(values.shape[1])[None, :]
        has_f = fi < big
        fi_c, li_c = np.where(has_f, fi, 0), np.where(has_f, li, 0)
        first_val = np.where(has_f, values[fi_c, cols], np.nan)
        last_val = np.where(has_f, values[li_c, cols], np.nan)
        tau1 = tau[:, 0]
        first_t = np.where(has_f, tau1[fi_c], np.nan)
        last_t = np.where(has_f, tau1[li_c], np.nan)
    else:
        first_val = last_val = first_t = last_t = np.full_like(n, np.nan)
    ewma: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for tau_h in ewma_taus_h:
        w = np.where(valid, np.exp(-(step_h - tau) / tau_h), 0.0)
        ewma[tau_h] = (
            _scatter(rows_b, red(w * x0, starts, axis=0), nb, 0.0),
            _scatter(rows_b, red(w, starts, axis=0), nb, 0.0),
        )
    has_rows = np.zeros(nb, dtype=bool)
    has_rows[rows_b] = True
    return Buckets(
        first=first,
        step_h=step_h,
        n=_scatter(rows_b, n, nb, 0.0),
        mean=_scatter(rows_b, mean, nb, np.nan),
        m2=_scatter(rows_b, m2, nb, 0.0),
        tmean=_scatter(rows_b, tmean, nb, np.nan),
        m2t=_scatter(rows_b, m2t, nb, 0.0),
        ctx=_scatter(rows_b, ctx, nb, 0.0),
        mn=_scatter(rows_b, mn, nb, np.inf),
        mx=_scatter(rows_b, mx, nb, -np.inf),
        first_val=_scatter(rows_b, first_val, nb, np.nan),
        first_t=_scatter(rows_b, first_t, nb, np.nan),
        last_val=_scatter(rows_b, last_val, nb, np.nan),
        last_t=_scatter(rows_b, last_t, nb, np.nan),
        has_rows=has_rows,
        ewma=ewma,
    )


def pair_buckets(
    ts_ns: np.ndarray, a: np.ndarray, b: np.ndarray, step_ns: int
) -> tuple[np.ndarray, ...]:
    """Dense per-bucket (n, mean_a, mean_b, m2a, m2b, cab) over rows where both a and b are valid.

    `a` and `b` are (n, pairs); the grid is the same as `build_buckets`' for the same `ts_ns`.
    """
    bucket = ts_ns // step_ns
    first = int(bucket[0])
    nb = int(bucket[-1]) - first + 1
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    rows_b = (bucket[starts] - first).astype(np.int64)
    counts_rows = np.diff(np.r_[starts, len(bucket)])
    valid = ~(np.isnan(a) | np.isnan(b))
    red = np.add.reduceat
    n = red(valid.astype(float), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = red(np.where(valid, a, 0.0), starts, axis=0) / n
        mb = red(np.where(valid, b, 0.0), starts, axis=0) / n
    rep = np.repeat(np.arange(len(starts)), counts_rows)
    da = np.where(valid, a - ma[rep], 0.0)
    db = np.where(valid, b - mb[rep], 0.0)
    return (
        _scatter(rows_b, n, nb, 0.0),
        _scatter(rows_b, ma, nb, np.nan),
        _scatter(rows_b, mb, nb, np.nan),
        _scatter(rows_b, red(da * da, starts, axis=0), nb, 0.0),
        _scatter(rows_b, red(db * db, starts, axis=0), nb, 0.0),
        _scatter(rows_b, red(da * db, starts, axis=0), nb, 0.0),
    )

"""Trailing-window statistics from buckets, in O(buckets) per window and with exact batch/online parity.

A window of `k` buckets ending at bucket `i` is split on the absolute grid of blocks of `k` buckets
(block = bucket number // k): it is either one whole block, or the suffix of one block plus the
prefix of the next. Prefix and suffix sums restart at every block, so a window's numbers are made
only from its own buckets, in the same order, whether the grid holds a month (training) or just the
window (edge): batch and online agree bit for bit. Sums are centred on a reference bucket inside the
window and merged with Chan's pairwise formulas, so a low-variance signal on a large offset keeps
its precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factory_mlops.features._buckets import Buckets


@dataclass(frozen=True)
class BlockGrid:
    """Positions of the requested window ends on the grid of blocks of `k` buckets."""

    k: int
    offset: int  # padded index of dense bucket 0
    nblk: int
    bi: np.ndarray  # block of each window end
    ri: np.ndarray  # position of the window end inside its block
    whole: np.ndarray  # the window is exactly block bi

    @classmethod
    def make(cls, first: int, nb: int, k: int, positions: np.ndarray) -> BlockGrid:
        p0 = (first // k - 1) * k  # one empty block in front: windows reaching before the data
        offset = first - p0
        nblk = -(-(offset + nb) // k)
        ip = positions + offset
        ri = ip % k
        return cls(k=k, offset=offset, nblk=nblk, bi=ip // k, ri=ri, whole=ri == k - 1)

    def pad(self, arr: np.ndarray, fill: float) -> np.ndarray:
        """(nb, c) -> (nblk, k, c) on the absolute block grid."""
        total = self.nblk * self.k
        out = np.full((total, *arr.shape[1:]), fill, dtype=float)
        out[self.offset : self.offset + arr.shape[0]] = arr
        return out.reshape(self.nblk, self.k, *arr.shape[1:])

    def prefix(self, blocks: np.ndarray) -> np.ndarray:
        """Value of each window's prefix part (block bi, positions 0..ri)."""
        return blocks[self.bi, self.ri]

    def suffix(self, blocks: np.ndarray, empty: float) -> np.ndarray:
        """Value of each window's suffix part (block bi-1, positions ri+1..k-1); `empty` if none."""
        r = np.minimum(self.ri + 1, self.k - 1)
        vals = blocks[np.maximum(self.bi - 1, 0), r]
        return np.where(self.whole[:, None], empty, vals)


def _cumsum_prefix(b: np.ndarray) -> np.ndarray:
    return np.cumsum(b, axis=1)


def _cumsum_suffix(b: np.ndarray) -> np.ndarray:
    return np.cumsum(b[:, ::-1], axis=1)[:, ::-1]


def _ref(n: np.ndarray, mean: np.ndarray, last: bool) -> np.ndarray:
    """Mean of the first (prefix) or last (suffix) non-empty bucket of each block, 0 if none."""
    has = n > 0
    k = n.shape[1]
    idx = (k - 1 - np.argmax(has[:, ::-1], axis=1)) if last else np.argmax(has, axis=1)
    ref = np.take_along_axis(mean, idx[:, None, :], axis=1)[:, 0, :]
    return np.where(has.any(axis=1), ref, 0.0)


@dataclass
class Moments:
    """Window count, means and centred second moments of a pair (u, v) per channel."""

    n: np.ndarray
    mean_u: np.ndarray
    mean_v: np.ndarray
    m2u: np.ndarray
    m2v: np.ndarray
    cuv: np.ndarray


def _part(
    g: BlockGrid,
    n: np.ndarray,
    mu: np.ndarray,
    mv: np.ndarray,
    m2u: np.ndarray,
    m2v: np.ndarray,
    cuv: np.ndarray,
    suffix: bool,
) -> Moments:
    """Moments of each window's prefix (or suffix) part, from sums centred on a block reference."""
    cu, cv = _ref(n, mu, suffix), _ref(n, mv, suffix)
    has = n > 0
    du = np.where(has, mu - cu[:, None, :], 0.0)
    dv = np.where(has, mv - cv[:, None, :], 0.0)
    acc = _cumsum_suffix if suffix else _cumsum_prefix
    s0 = acc(n)
    s1u, s1v = acc(n * du), acc(n * dv)
    s2u, s2v, suv = acc(m2u + n * du * du), acc(m2v + n * dv * dv), acc(cuv + n * du * dv)
    if suffix:
        r = np.minimum(g.ri + 1, g.k - 1)
        bA = np.maximum(g.bi - 1, 0)

        def pick(a: np.ndarray) -> np.ndarray:
            return np.where(g.whole[:, None], 0.0, a[bA, r])

        refu, refv = cu[bA], cv[bA]
    else:

        def pick(a: np.ndarray) -> np.ndarray:
            return a[g.bi, g.ri]

        refu, refv = cu[g.bi], cv[g.bi]
    N, S1u, S1v = pick(s0), pick(s1u), pick(s1v)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(N > 0, N, 1.0)
        return Moments(
            n=N,
            mean_u=np.where(N > 0, refu + S1u / safe, np.nan),
            mean_v=np.where(N > 0, refv + S1v / safe, np.nan),
            m2u=pick(s2u) - S1u * S1u / safe,
            m2v=pick(s2v) - S1v * S1v / safe,
            cuv=pick(suv) - S1u * S1v / safe,
        )


def window_moments(
    g: BlockGrid,
    n: np.ndarray,
    mu: np.ndarray,
    mv: np.ndarray,
    m2u: np.ndarray,
    m2v: np.ndarray,
    cuv: np.ndarray,
    u_shift: float = 0.0,
) -> Moments:
    """Merge prefix and suffix parts (Chan et al.) into window moments.

    Inputs are padded bucket arrays (nblk, k, c). `u_shift` converts a suffix part's `u` into the
    next block's frame (for time, whose `u` counts hours from the block start: `k * step_h`).
    """
    pre = _part(g, n, mu, mv, m2u, m2v, cuv, suffix=False)
    suf = _part(g, n, mu, mv, m2u, m2v, cuv, suffix=True)
    na, nb_ = suf.n, pre.n
    N = na + nb_
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where((na > 0) & (nb_ > 0), na * nb_ / np.where(N > 0, N, 1.0), 0.0)
        du = np.where(f > 0, pre.mean_u - (suf.mean_u - u_shift), 0.0)
        dv = np.where(f > 0, pre.mean_v - suf.mean_v, 0.0)
        mean_v = np.where(
            N > 0,
            (np.where(na > 0, na * suf.mean_v, 0.0) + np.where(nb_ > 0, nb_ * pre.mean_v, 0.0))
            / np.where(N > 0, N, 1.0),
            np.nan,
        )
        mean_u = np.where(
            N > 0,
            (
                np.where(na > 0, na * (suf.mean_u - u_shift), 0.0)
                + np.where(nb_ > 0, nb_ * pre.mean_u, 0.0)
            )
            / np.where(N > 0, N, 1.0),
            np.nan,
        )
    z = lambda a: np.where(np.isnan(a), 0.0, a)  # noqa: E731 - empty parts carry NaN-free zeros
    return Moments(
        n=N,
        mean_u=mean_u,
        mean_v=mean_v,
        m2u=z(suf.m2u) + z(pre.m2u) + du * du * f,
        m2v=z(suf.m2v) + z(pre.m2v) + dv * dv * f,
        cuv=z(suf.cuv) + z(pre.cuv) + du * dv * f,
    )


def sensor_windows(
    b: Buckets, k: int, positions: np.ndarray, stats: tuple[str, ...], ewma_tau_h: float | None
) -> dict[str, np.ndarray]:
    """Window statistics (each (len(positions), channels)) for windows of `k` buckets."""
    g = BlockGrid.make(b.first, b.nb, k, positions)
    out: dict[str, np.ndarray] = {}
    n = g.pad(b.n, 0.0)
    need_mom = {"mean", "std", "slope"} & set(stats)
    if need_mom:
        u = g.pad(b.tmean, np.nan) + (np.arange(k) * b.step_h)[None, :, None]
        mom = window_moments(
            g,
            n,
            u,
            g.pad(b.mean, np.nan),
            g.pad(b.m2t, 0.0),
            g.pad(b.m2, 0.0),
            g.pad(b.ctx, 0.0),
            u_shift=k * b.step_h,
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            if "mean" in stats:
                out["mean"] = mom.mean_v
            if "std" in stats:
                out["std"] = np.where(
                    mom.n > 1, np.sqrt(np.maximum(mom.m2v, 0.0) / (mom.n - 1)), np.nan
                )
            if "slope" in stats:
                tiny = 1e-12 * np.maximum(mom.n, 1.0) * (k * b.step_h) ** 2
                ok = (mom.n > 1) & (mom.m2u > tiny)
                out["slope"] = np.where(ok, mom.cuv / np.where(ok, mom.m2u, 1.0), np.nan)
    for name, arr, fill, acc in (
        ("min", b.mn, np.inf, np.minimum),
        ("max", b.mx, -np.inf, np.maximum),
    ):
        if name in stats:
            p = g.pad(arr, fill)
            pre = acc.accumulate(p, axis=1)
            suf = acc.accumulate(p[:, ::-1], axis=1)[:, ::-1]
            v = acc(g.prefix(pre), g.suffix(suf, fill))
            out[name] = np.where(np.isfinite(v), v, np.nan)
    if {"last", "roc"} & set(stats):
        last, t_last, first, t_first = _first_last(g, b)
        if "last" in stats:
            out["last"] = last
        if "roc" in stats:
            dt = t_last - t_first
            with np.errstate(invalid="ignore", divide="ignore"):
                out["roc"] = np.where(dt > 0, (last - first) / np.where(dt > 0, dt, 1.0), np.nan)
    if "ewma" in stats:
        if ewma_tau_h is None:
            raise ValueError("ewma needs a decay time")
        out["ewma"] = _ewma(g, b, k, ewma_tau_h)
    return out


def _first_last(g: BlockGrid, b: Buckets) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Last and first valid reading of each window and their times (hours, relative to the end)."""
    k, h = g.k, b.step_h
    lv, lt = g.pad(b.last_val, np.nan), g.pad(b.last_t, np.nan)
    fv, ft = g.pad(b.first_val, np.nan), g.pad(b.first_t, np.nan)
    ar = np.arange(k)[None, :, None]
    has = ~np.isnan(lv)
    last_idx = np.maximum.accumulate(np.where(has, ar, -1), axis=1)  # ffill inside a block
    first_idx = np.minimum.accumulate(np.where(has, ar, k)[:, ::-1], axis=1)[:, ::-1]  # bfill
    cols = np.arange(lv.shape[2])[None, :]
    ri = g.ri[:, None]
    bA = np.maximum(g.bi - 1, 0)[:, None]
    bi = g.bi[:, None]
    whole = g.whole[:, None]
    # last: in the prefix part (block bi, <= ri), else the suffix part (block bi-1, >= ri+1)
    pi = last_idx[g.bi, g.ri]
    p_ok = pi >= 0
    pic = np.maximum(pi, 0)
    ai = last_idx[bA[:, 0], k - 1]
    a_ok = (~whole) & (ai >= ri + 1)
    aic = np.maximum(ai, 0)
    last = np.where(p_ok, lv[bi, pic, cols], np.where(a_ok, lv[bA, aic, cols], np.nan))
    t_last = np.where(
        p_ok,
        (pic - ri - 1) * h + lt[bi, pic, cols],
        np.where(a_ok, (aic - k - ri - 1) * h + lt[bA, aic, cols], np.nan),
    )
    # first: in the suffix part (block bi-1, >= ri+1), else the prefix part (block bi, <= ri)
    r1 = np.minimum(g.ri + 1, k - 1)[:, None]
    si = first_idx[bA[:, 0], r1[:, 0]]
    s_ok = (~whole) & (si < k)
    sic = np.minimum(si, k - 1)
    qi = first_idx[g.bi, 0]
    q_ok = qi <= ri
    qic = np.minimum(qi, k - 1)
    first = np.where(s_ok, fv[bA, sic, cols], np.where(q_ok, fv[bi, qic, cols], np.nan))
    t_first = np.where(
        s_ok,
        (sic - k - ri - 1) * h + ft[bA, sic, cols],
        np.where(q_ok, (qic - ri - 1) * h + ft[bi, qic, cols], np.nan),
    )
    return last, t_last, first, t_first


def _ewma(g: BlockGrid, b: Buckets, k: int, tau_h: float) -> np.ndarray:
    """Time-decayed mean over the window: sum(w x) / sum(w), w = exp(-(T - t) / tau)."""
    ex, ew = b.ewma[tau_h]
    r = np.exp(-b.step_h / tau_h)
    grow = r ** -np.arange(k, dtype=float)[None, :, None]  # r^-b inside the block
    shrink = r ** np.arange(k - 1, -1, -1, dtype=float)[None, :, None]  # r^(k-1-b)
    out = []
    for arr in (ex, ew):
        p = g.pad(arr, 0.0)
        pre = _cumsum_prefix(p * grow)
        suf = _cumsum_suffix(p * shrink)
        ri = g.ri[:, None].astype(float)
        out.append(g.prefix(pre) * r**ri + g.suffix(suf, 0.0) * r ** (ri + 1))
    num, den = out
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

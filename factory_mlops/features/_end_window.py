"""The edge's window statistics: one machine's windows ending at one step end, from its buckets.

Both paths share the per-step buckets (`build_buckets`, the same code on the same rows gives the
same numbers) and the statistic definitions. Where the batch path merges buckets over blocks for
every step end at once, the edge evaluates a single end: cumulative sums backwards from the end
give every window in one pass, centred on the newest bucket. The two merges add the same terms in
a different order, so they agree to rounding (property-tested to 1e-9 relative).
"""

from __future__ import annotations

import numpy as np

from factory_mlops.features._buckets import Buckets


def _tail(a: np.ndarray, lo: int, hi: int, fill: float) -> np.ndarray:
    """Rows lo..hi (inclusive) of `a`, newest first, padding positions before the grid with `fill`."""
    seg = a[max(lo, 0) : hi + 1][::-1]
    if lo < 0:
        seg = np.concatenate([seg, np.full((-lo, *a.shape[1:]), fill)])
    return seg


def end_window_stats(
    b: Buckets,
    end: int,
    ks: tuple[int, ...],
    stats: tuple[str, ...],
    taus: tuple[float, ...] | None,
) -> np.ndarray:
    """Statistics (channels, windows, stats) of the windows of `ks` buckets ending at bucket `end`."""
    kmax = max(ks)
    lo = end - kmax + 1
    h = b.step_h
    n = _tail(b.n, lo, end, 0.0)
    kk = np.asarray(ks) - 1
    out = np.full((b.n.shape[1], len(ks), len(stats)), np.nan)
    col = {s: i for i, s in enumerate(stats)}
    has = n > 0
    age = np.arange(kmax, dtype=float)[:, None]  # buckets back from the newest
    with np.errstate(invalid="ignore", divide="ignore"):
        if {"mean", "std", "slope"} & set(stats):
            mean = _tail(b.mean, lo, end, np.nan)
            ref_i = np.argmax(has, axis=0)
            ref = np.where(has.any(axis=0), mean[ref_i, np.arange(mean.shape[1])], 0.0)
            d = np.where(has, mean - ref, 0.0)
            nd = n * d
            terms = [n, nd]
            if "std" in col:
                terms.append(_tail(b.m2, lo, end, 0.0) + nd * d)
            if "slope" in col:
                u = np.where(
                    has, _tail(b.tmean, lo, end, np.nan) - (age + 1) * h, 0.0
                )  # hours before T
                nu = n * u
                terms += [
                    nu,
                    _tail(b.m2t, lo, end, 0.0) + nu * u,
                    _tail(b.ctx, lo, end, 0.0) + nu * d,
                ]
            cs = np.cumsum(np.stack(terms), axis=1)[:, kk]
            N, S1 = cs[0], cs[1]
            safe = np.where(N > 0, N, 1.0)
            if "mean" in col:
                out[:, :, col["mean"]] = np.where(N > 0, ref + S1 / safe, np.nan).T
            if "std" in col:
                m2x = cs[2] - S1 * S1 / safe
                out[:, :, col["std"]] = np.where(
                    N > 1, np.sqrt(np.maximum(m2x, 0) / np.where(N > 1, N - 1, 1)), np.nan
                ).T
            if "slope" in col:
                U1, U2, C = cs[-3], cs[-2], cs[-1]
                m2u = U2 - U1 * U1 / safe
                cux = C - U1 * S1 / safe
                tiny = 1e-12 * np.maximum(N, 1.0) * ((kk + 1) * h)[:, None] ** 2
                ok = (N > 1) & (m2u > tiny)
                out[:, :, col["slope"]] = np.where(ok, cux / np.where(ok, m2u, 1.0), np.nan).T
        for name, arr, fill, acc in (
            ("min", b.mn, np.inf, np.minimum),
            ("max", b.mx, -np.inf, np.maximum),
        ):
            if name in col:
                v = acc.accumulate(_tail(arr, lo, end, fill), axis=0)[kk]
                out[:, :, col[name]] = np.where(np.isfinite(v), v, np.nan).T
        if "last" in col or "roc" in col:
            lv = _tail(b.last_val, lo, end, np.nan)
            valid = ~np.isnan(lv)
            cols = np.arange(lv.shape[1])
            li = np.argmax(valid, axis=0)  # newest valid bucket
            l_ok = valid.any(axis=0)[None, :] & (li[None, :] <= kk[:, None])
            last = np.where(l_ok, lv[li, cols][None, :], np.nan)
            if "last" in col:
                out[:, :, col["last"]] = last.T
            if "roc" in col:
                t_last = _tail(b.last_t, lo, end, np.nan)[li, cols] - (li + 1) * h
                fi = np.maximum.accumulate(np.where(valid, np.arange(kmax)[:, None], -1), axis=0)[
                    kk
                ]  # oldest valid
                fic = np.maximum(fi, 0)
                first = np.where(fi >= 0, _tail(b.first_val, lo, end, np.nan)[fic, cols], np.nan)
                t_first = _tail(b.first_t, lo, end, np.nan)[fic, cols] - (fic + 1) * h
                dt = t_last[None, :] - t_first
                out[:, :, col["roc"]] = np.where(
                    dt > 0, (last - first) / np.where(dt > 0, dt, 1.0), np.nan
                ).T
        if "ewma" in col:
            assert taus is not None
            for wi, (k, tau) in enumerate(zip(ks, taus, strict=True)):
                ex, ew = b.ewma[tau]
                w = np.exp(-h / tau) ** age[:k]
                num = (_tail(ex, end - k + 1, end, 0.0) * w).sum(axis=0)
                den = (_tail(ew, end - k + 1, end, 0.0) * w).sum(axis=0)
                out[:, wi, col["ewma"]] = np.where(
                    den > 0, num / np.where(den > 0, den, 1.0), np.nan
                )
    return out


def corr_floor(mean_a: np.ndarray, mean_b: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sum of squares below which a channel counts as constant in a window (SD < 1e-10 x level)."""
    return (1e-10 * (np.abs(np.nan_to_num(mean_a)) + np.abs(np.nan_to_num(mean_b)) + 1.0)) ** 2 * n


def end_window_corr(pb: tuple[np.ndarray, ...], end: int, ks: tuple[int, ...]) -> np.ndarray:
    """Pearson correlation (pairs, windows) of the windows ending at bucket `end`."""
    n, ma, mb, m2a, m2b, cab = pb
    kmax = max(ks)
    lo = end - kmax + 1
    n = _tail(n, lo, end, 0.0)
    has = n > 0
    cols = np.arange(n.shape[1])
    kk = np.asarray(ks) - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        parts, refs = [], []
        for m in (ma, mb):
            mt = _tail(m, lo, end, np.nan)
            ref = np.where(has.any(axis=0), mt[np.argmax(has, axis=0), cols], 0.0)
            parts.append(np.where(has, mt - ref, 0.0))
            refs.append(ref)
        da, db = parts
        cs = np.cumsum(
            np.stack(
                [
                    n,
                    n * da,
                    n * db,
                    _tail(m2a, lo, end, 0.0) + n * da * da,
                    _tail(m2b, lo, end, 0.0) + n * db * db,
                    _tail(cab, lo, end, 0.0) + n * da * db,
                ]
            ),
            axis=1,
        )
        N, A1, B1, A2, B2, AB = cs[:, kk]
        safe = np.where(N > 0, N, 1.0)
        va, vb = np.maximum(A2 - A1 * A1 / safe, 0), np.maximum(B2 - B1 * B1 / safe, 0)
        cov = AB - A1 * B1 / safe
        tiny = corr_floor(refs[0] + A1 / safe, refs[1] + B1 / safe, N)
        ok = (N > 2) & (va > tiny) & (vb > tiny)
        r = np.where(ok, np.clip(cov / np.sqrt(np.where(ok, va * vb, 1.0)), -1, 1), np.nan)
    return r.T

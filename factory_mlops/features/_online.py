"""The edge's path: features of one machine at one step end, from its buckets.

Both paths share the per-step buckets (`build_buckets`, the same code on the same rows gives the
same numbers) and the statistic definitions. Where the batch path merges buckets over blocks for
every step end at once, the edge evaluates a single end: cumulative sums backwards from the end
give every window in one pass, centred on the newest bucket. The two merges add the same terms in
a different order, so they agree to rounding (property-tested to 1e-9 relative).

`OnlineFeatures` keeps a machine's closed buckets between calls, so a step end costs the new
step's readings, not the whole window.
"""

from __future__ import annotations

import numpy as np

from factory_mlops.features._buckets import Buckets, bucket_needs, build_buckets, pair_buckets
from factory_mlops.features._spec import FeatureSpec


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


_FILLS = {
    "n": 0.0,
    "mean": np.nan,
    "m2": 0.0,
    "tmean": np.nan,
    "m2t": 0.0,
    "ctx": 0.0,
    "mn": np.inf,
    "mx": -np.inf,
    "first_val": np.nan,
    "first_t": np.nan,
    "last_val": np.nan,
    "last_t": np.nan,
}
_PAIR_FILLS = (0.0, np.nan, np.nan, 0.0, 0.0, 0.0)


def _join(a: np.ndarray, b: np.ndarray, gap: int, fill: float, keep: int) -> np.ndarray:
    parts = [a, np.full((gap, *a.shape[1:]), fill, dtype=a.dtype), b] if gap else [a, b]
    return np.concatenate(parts)[-keep:]


def append_buckets(a: Buckets | None, b: Buckets, keep: int) -> Buckets:
    """`a` followed by the later buckets `b` (empty buckets between), trimmed to the last `keep`."""
    if a is None:
        a, gap = b, 0
        fields = {k: getattr(b, k)[-keep:] for k in _FILLS}
        has = b.has_rows[-keep:]
        ew = {t: (e[0][-keep:], e[1][-keep:]) for t, e in b.ewma.items()}
        first = b.first + b.nb - len(has)
        return Buckets(first=first, step_h=b.step_h, has_rows=has, ewma=ew, **fields)
    gap = b.first - (a.first + a.nb)
    if gap < 0:
        raise ValueError("new buckets overlap buckets already closed; readings arrived late")
    fields = {k: _join(getattr(a, k), getattr(b, k), gap, f, keep) for k, f in _FILLS.items()}
    has = _join(a.has_rows, b.has_rows, gap, False, keep)
    ew = {
        t: (
            _join(a.ewma[t][0], b.ewma[t][0], gap, 0.0, keep),
            _join(a.ewma[t][1], b.ewma[t][1], gap, 0.0, keep),
        )
        for t in a.ewma
    }
    first = b.first + b.nb - len(has)
    return Buckets(first=first, step_h=a.step_h, has_rows=has, ewma=ew, **fields)


class OnlineFeatures:
    """One machine's feature state at the edge: push readings as they arrive, read features at step ends.

    Each step is reduced to its bucket once, by the batch path's `build_buckets` on the step's
    rows, and kept for the longest window; a step end then costs the new step's readings plus one
    backward pass over the buckets. Raw rows are kept for the lookback (spectral features).

    Example:
        state = OnlineFeatures(spec)
        state.push(ts_ns, values)          # any number of readings, time-ordered
        vec = state.features_at(at_ns)     # None if nothing was read in the last step
    """

    def __init__(
        self, spec: FeatureSpec, *, context: object | None = None, machine: str = ""
    ) -> None:
        from factory_mlops.features._compute import _ewma_tau_h, _machine_context

        self.spec = spec
        self.step_ns = spec.step_minutes * 60_000_000_000
        self._lookback_ns = int(spec.lookback.value)
        self._keep = max(1, self._lookback_ns // self.step_ns)
        self._taus = (
            tuple(_ewma_tau_h(spec, w) for w in spec.windows_minutes)
            if "ewma" in spec.stats
            else ()
        )
        self._ts = np.empty(0, dtype=np.int64)
        self._x = np.empty((0, len(spec.sensors)))
        self._b: Buckets | None = None
        self._pb: tuple[np.ndarray, ...] | None = None
        self._closed = -(2**62)  # readings before this time are already in buckets
        self._resets, self._baselines = _machine_context(context, spec, machine)  # type: ignore[arg-type]

    def push(self, ts_ns: np.ndarray, values: np.ndarray) -> None:
        """Append raw readings (int64 ns, time-ordered; values in `spec.sensors` order)."""
        ts_ns = np.asarray(ts_ns, dtype=np.int64)
        if len(ts_ns) and ts_ns[0] < max(
            self._closed, self._ts[-1] if len(self._ts) else self._closed
        ):
            raise ValueError("readings must be pushed in time order, after the last step end read")
        self._ts = np.concatenate([self._ts, ts_ns])
        self._x = np.concatenate(
            [self._x, np.asarray(values, dtype=float).reshape(len(ts_ns), len(self.spec.sensors))]
        )

    def _close(self, at_ns: int) -> None:
        from factory_mlops.features._compute import _pair_columns, channel_matrix

        i0, i1 = np.searchsorted(self._ts, [self._closed, at_ns], side="left")
        if i1 > i0:
            ts, x = self._ts[i0:i1], self._x[i0:i1]
            X = channel_matrix({s: x[:, j] for j, s in enumerate(self.spec.sensors)}, self.spec)
            nb = build_buckets(ts, X, self.step_ns, self._taus, **bucket_needs(self.spec))
            gap = 0 if self._b is None else nb.first - (self._b.first + self._b.nb)
            self._b = append_buckets(self._b, nb, self._keep)
            if self.spec.correlations:
                pb = pair_buckets(ts, *_pair_columns(X, self.spec), self.step_ns)
                if self._pb is None:
                    self._pb = tuple(p[-self._keep :] for p in pb)
                else:
                    self._pb = tuple(
                        _join(o, p, max(gap, 0), f, self._keep)
                        for o, p, f in zip(self._pb, pb, _PAIR_FILLS, strict=True)
                    )
        self._closed = at_ns
        # raw rows are only needed again for the spectral family; buckets hold everything else
        horizon = at_ns - self._lookback_ns if self.spec.spectral is not None else at_ns
        cut = int(np.searchsorted(self._ts, horizon, side="left"))
        if cut:
            self._ts, self._x = self._ts[cut:], self._x[cut:]

    def features_at(self, at_ns: int) -> np.ndarray | None:
        """Features at step end `at_ns` (a multiple of the step, not before the previous one read)."""
        from factory_mlops.features._compute import online_feature_vector

        if at_ns % self.step_ns:
            raise ValueError(
                f"{at_ns} is not a step end (multiple of {self.spec.step_minutes} min)"
            )
        if at_ns < self._closed:
            raise ValueError("step ends must be read in time order")
        self._close(at_ns)
        b = self._b
        end = at_ns // self.step_ns - 1 - (b.first if b is not None else 0)
        if b is None or not 0 <= end < b.nb or not b.has_rows[end]:
            return None
        return online_feature_vector(
            self._ts,
            self._x,
            self.spec,
            at_ns,
            _resets=self._resets,
            _baselines=self._baselines,
            _buckets=(self._b, self._pb),
        )

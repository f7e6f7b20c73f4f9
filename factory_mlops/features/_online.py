"""The edge's state: `OnlineFeatures` keeps one machine's closed buckets between calls, so a step
end costs the new step's readings, not the whole window.

The numbers are `online_feature_vector`'s (the edge's path, on the kept buckets), whose window
statistics are `_end_window`'s.
"""

from __future__ import annotations

import numpy as np

from factory_mlops.features._buckets import Buckets, bucket_needs, build_buckets, pair_buckets
from factory_mlops.features._channels import channel_matrix, ewma_tau_h, pair_columns
from factory_mlops.features._compute import online_feature_vector
from factory_mlops.features._context import machine_context
from factory_mlops.features._spec import FeatureSpec

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
        self.spec = spec
        self.step_ns = spec.step_minutes * 60_000_000_000
        self._lookback_ns = int(spec.lookback.value)
        self._keep = max(1, self._lookback_ns // self.step_ns)
        self._taus = (
            tuple(ewma_tau_h(spec, w) for w in spec.windows_minutes) if "ewma" in spec.stats else ()
        )
        self._ts = np.empty(0, dtype=np.int64)
        self._x = np.empty((0, len(spec.sensors)))
        self._b: Buckets | None = None
        self._pb: tuple[np.ndarray, ...] | None = None
        self._closed = -(2**62)  # readings before this time are already in buckets
        self._resets, self._baselines = machine_context(context, spec, machine)  # type: ignore[arg-type]

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
        i0, i1 = np.searchsorted(self._ts, [self._closed, at_ns], side="left")
        if i1 > i0:
            ts, x = self._ts[i0:i1], self._x[i0:i1]
            X = channel_matrix({s: x[:, j] for j, s in enumerate(self.spec.sensors)}, self.spec)
            nb = build_buckets(ts, X, self.step_ns, self._taus, **bucket_needs(self.spec))
            gap = 0 if self._b is None else nb.first - (self._b.first + self._b.nb)
            self._b = append_buckets(self._b, nb, self._keep)
            if self.spec.correlations:
                pb = pair_buckets(ts, *pair_columns(X, self.spec), self.step_ns)
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
            _buckets=(b, self._pb),
        )

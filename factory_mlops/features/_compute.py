"""Feature computation, one code path for training (batch) and the edge (online).

A feature row at step end `T` depends only on the readings in `[T - spec.lookback, T)` and on the
machine context (resets and baselines known at T). The batch path computes every step end of a
long history; the online path runs the very same per-machine function on a trailing raw window
(`online_feature_vector`), and window statistics are built so that both give identical numbers
(see `_windows`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory_mlops.features._buckets import Buckets, bucket_needs, build_buckets, pair_buckets
from factory_mlops.features._channels import channel_matrix, ewma_tau_h, pair_columns
from factory_mlops.features._context import MAD_TO_SD, FeatureContext, machine_context
from factory_mlops.features._end_window import corr_floor, end_window_corr, end_window_stats
from factory_mlops.features._spec import FeatureSpec
from factory_mlops.features._spectral import band_energy
from factory_mlops.features._windows import BlockGrid, sensor_windows, window_moments

_NS_PER_MIN = 60_000_000_000
_NS_PER_HOUR = 3_600_000_000_000


def machine_features(
    ts_ns: np.ndarray,
    X: np.ndarray,
    spec: FeatureSpec,
    ends_ns: np.ndarray | None = None,
    *,
    lo_ns: int | None = None,
    hi_ns: int | None = None,
    resets: tuple[np.ndarray, np.ndarray] | None = None,
    baselines: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of one machine (rows time-sorted, `X` = channel matrix) at its step ends.

    Step ends are those whose step holds a reading, restricted to `lo_ns < T <= hi_ns`, or exactly
    `ends_ns` (each of which must hold a reading in its step). Returns (T_ns, matrix in
    `spec.feature_names` order).
    """
    step_ns = spec.step_minutes * _NS_PER_MIN
    taus = tuple(ewma_tau_h(spec, w) for w in spec.windows_minutes) if "ewma" in spec.stats else ()
    b = build_buckets(ts_ns, X, step_ns, taus, **bucket_needs(spec))
    T = (np.arange(b.first, b.first + b.nb) + 1) * step_ns
    if ends_ns is not None:
        pos = ends_ns // step_ns - 1 - b.first
        if ((pos < 0) | (pos >= b.nb)).any() or not b.has_rows[pos].all():
            raise ValueError("every requested step end must hold a reading of the machine")
    else:
        keep = b.has_rows.copy()
        if lo_ns is not None:
            keep &= lo_ns < T
        if hi_ns is not None:
            keep &= hi_ns >= T
        pos = np.flatnonzero(keep)
    T_out = T[pos]
    n_ch, nw, nst = X.shape[1], len(spec.windows_minutes), len(spec.stats)
    blocks: list[np.ndarray] = []
    if nst and n_ch:
        cube = np.empty((len(pos), n_ch, nw, nst))
        for wi, w in enumerate(spec.windows_minutes):
            tau = ewma_tau_h(spec, w) if "ewma" in spec.stats else None
            res = sensor_windows(b, w // spec.step_minutes, pos, spec.stats, tau)
            for si, stat in enumerate(spec.stats):
                cube[:, :, wi, si] = res[stat]
        blocks.append(cube.reshape(len(pos), n_ch * nw * nst))
    if spec.correlations:
        pb = pair_buckets(ts_ns, *pair_columns(X, spec), step_ns)
        corr = np.empty((len(pos), len(spec.correlations), nw))
        for wi, w in enumerate(spec.windows_minutes):
            g = BlockGrid.make(b.first, b.nb, w // spec.step_minutes, pos)
            n, ma, mb, m2a, m2b, cab = (
                g.pad(a, f) for a, f in zip(pb, (0, np.nan, np.nan, 0, 0, 0), strict=True)
            )
            mom = window_moments(g, n, ma, mb, m2a, m2b, cab)
            den = np.sqrt(np.maximum(mom.m2u, 0) * np.maximum(mom.m2v, 0))
            tiny = corr_floor(mom.mean_u, mom.mean_v, mom.n)
            with np.errstate(invalid="ignore", divide="ignore"):
                ok = (mom.n > 2) & (np.maximum(mom.m2u, 0) > tiny) & (np.maximum(mom.m2v, 0) > tiny)
                corr[:, :, wi] = np.where(
                    ok, np.clip(mom.cuv / np.where(ok, den, 1.0), -1, 1), np.nan
                )
        blocks.append(corr.reshape(len(pos), len(spec.correlations) * nw))
    if spec.spectral is not None:
        chans = [spec.channels.index(c) for c in spec.spectral.sensors]
        blocks.append(band_energy(ts_ns, X[:, chans], spec.spectral, step_ns, T_out))
    if spec.baseline is not None:
        blocks.append(_baseline_dev(b, spec, pos, T_out, resets, baselines))
    if spec.maintenance_age:
        blocks.append(_hours_since(T_out, resets)[:, None])
    mat = np.hstack(blocks) if blocks else np.empty((len(pos), 0))
    return T_out, mat


def _last_reset(T: np.ndarray, resets: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Event time (ns) of the latest reset known at each T (-1 if none)."""
    if resets is None or len(resets[0]) == 0:
        return np.full(len(T), -1, dtype=np.int64)
    ev, known = resets
    run = np.maximum.accumulate(ev)
    i = np.searchsorted(known, T, side="right") - 1
    return np.where(i >= 0, run[np.maximum(i, 0)], -1)


def _hours_since(T: np.ndarray, resets: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    last = _last_reset(T, resets)
    return np.where(last >= 0, (T - last) / _NS_PER_HOUR, np.nan)


def _baseline_dev(
    b: Buckets,
    spec: FeatureSpec,
    pos: np.ndarray,
    T: np.ndarray,
    resets: tuple[np.ndarray, np.ndarray] | None,
    baselines: dict[int, np.ndarray] | None,
) -> np.ndarray:
    bl = spec.baseline
    assert bl is not None
    chans = [spec.channels.index(c) for c in bl.sensors]
    mean = sensor_windows(b, bl.window_minutes // spec.step_minutes, pos, ("mean",), None)["mean"][
        :, chans
    ]
    return _deviation(mean, T, resets, baselines)


def _deviation(
    mean: np.ndarray,
    T: np.ndarray,
    resets: tuple[np.ndarray, np.ndarray] | None,
    baselines: dict[int, np.ndarray] | None,
) -> np.ndarray:
    """(window mean - baseline median) / (1.4826 MAD) for the baseline of the last reset known at T."""
    out = np.full(mean.shape, np.nan)
    last = _last_reset(T, resets)
    for r in np.unique(last[last >= 0]):
        row = (baselines or {}).get(int(r))
        if row is None:
            continue
        ready_ns, med, mad = int(row[0]), row[1::2], row[2::2]
        sel = (last == r) & (T >= ready_ns)
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = (mean[sel] - med) / (MAD_TO_SD * mad)
        out[sel] = np.where(mad > 0, dev, np.nan)
    return out


def _empty(spec: FeatureSpec) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in spec.feature_names})
    out.insert(0, "timestamp", pd.Series(dtype="datetime64[ns, UTC]"))
    out.insert(0, "machine_id", pd.Series(dtype=object))
    return out


def compute_features(
    readings: pd.DataFrame,
    spec: FeatureSpec,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    context: FeatureContext | None = None,
) -> pd.DataFrame:
    """Compute features per machine at every step end `T` where the machine reported in `[T-step, T)`.

    Args:
        readings: columns `timestamp` (UTC), `machine_id` and every sensor of `spec`.
        spec: the feature spec.
        start, end: keep rows with `start < T <= end` (either may be None). Supply at least
            `spec.lookback` of readings before `start` for complete windows.
        context: resets and baselines, required when the spec has baseline deviation or time
            since maintenance.

    Returns:
        DataFrame with `machine_id`, `timestamp` (= T) and `spec.feature_names`, sorted by
        (timestamp, machine_id).
    """
    missing = [c for c in ("timestamp", "machine_id", *spec.sensors) if c not in readings.columns]
    if missing:
        raise KeyError(f"readings lack columns {missing} required by feature spec {spec.hash}")
    if len(readings) == 0:
        return _empty(spec)
    ts = pd.DatetimeIndex(readings["timestamp"]).tz_convert("UTC").as_unit("ns").asi8
    codes, machines = pd.factorize(readings["machine_id"], sort=True)
    order = np.lexsort((ts, codes))
    ts, codes = ts[order], codes[order]
    X = channel_matrix({s: readings[s].to_numpy(dtype=float)[order] for s in spec.sensors}, spec)
    lo = None if start is None else pd.Timestamp(start).as_unit("ns").value
    hi = None if end is None else pd.Timestamp(end).as_unit("ns").value
    bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    parts_T, parts_M, parts_F = [], [], []
    for a, z in zip(np.r_[0, bounds], np.r_[bounds, len(ts)], strict=True):
        m = codes[a]
        resets, baselines = machine_context(context, spec, str(machines[m]))
        T, F = machine_features(
            ts[a:z], X[a:z], spec, lo_ns=lo, hi_ns=hi, resets=resets, baselines=baselines
        )
        if len(T):
            parts_T.append(T)
            parts_M.append(np.full(len(T), m))
            parts_F.append(F)
    if not parts_T:
        return _empty(spec)
    T, M, F = np.concatenate(parts_T), np.concatenate(parts_M), np.vstack(parts_F)
    o = np.lexsort((M, T))
    out = pd.DataFrame(F[o], columns=spec.feature_names)
    out.insert(0, "timestamp", pd.DatetimeIndex(T[o], tz="UTC"))
    out.insert(0, "machine_id", np.asarray(machines, dtype=object)[M[o]])
    return out


def latest_step_end(ts: pd.Timestamp, spec: FeatureSpec) -> pd.Timestamp:
    """The step end `T` whose bucket contains `ts` (the row the edge scores after reading `ts`)."""
    step_ns = int(spec.step.value)
    return pd.Timestamp((ts.value // step_ns + 1) * step_ns, tz="UTC")


def online_feature_vector(
    ts_ns: np.ndarray,
    values: np.ndarray,
    spec: FeatureSpec,
    at_ns: int,
    *,
    context: FeatureContext | None = None,
    machine: str | None = None,
    _resets: tuple[np.ndarray, np.ndarray] | None = None,
    _baselines: dict[int, np.ndarray] | None = None,
    _buckets: tuple[Buckets, tuple[np.ndarray, ...] | None] | None = None,
) -> np.ndarray | None:
    """One machine's features at step end `at_ns` from its raw trailing window (the edge's path).

    Args:
        ts_ns: reading times (int64 ns, sorted); readings outside `[at - lookback, at)` are ignored.
        values: (n, len(spec.sensors)) raw sensor values in `spec.sensors` order, NaN = missing.
        at_ns: the step end (a multiple of the step).
        context, machine: the machine context, for specs that need it.

    Returns:
        float64 vector in `spec.feature_names` order, or None if the machine has no reading in
        `[at - step, at)` (the batch path emits no row there either).
    """
    lo = at_ns - int(spec.lookback.value)
    i0, i1 = np.searchsorted(ts_ns, [lo, at_ns], side="left")
    ts, vals = ts_ns[i0:i1], values[i0:i1]
    step_ns = spec.step_minutes * _NS_PER_MIN
    if _buckets is None and (len(ts) == 0 or ts[-1] < at_ns - step_ns):
        return None  # (with kept buckets, OnlineFeatures.features_at has checked the last step)
    X = (
        channel_matrix({s: vals[:, j] for j, s in enumerate(spec.sensors)}, spec)
        if _buckets is None or spec.spectral is not None
        else None
    )
    if _resets is None and _baselines is None:
        _resets, _baselines = machine_context(context, spec, machine or "")
    ks = tuple(w // spec.step_minutes for w in spec.windows_minutes)
    taus = (
        tuple(ewma_tau_h(spec, w) for w in spec.windows_minutes) if "ewma" in spec.stats else None
    )
    if _buckets is None:
        assert X is not None
        b = build_buckets(ts, X, step_ns, taus or (), **bucket_needs(spec))
        pb = pair_buckets(ts, *pair_columns(X, spec), step_ns) if spec.correlations else None
    else:
        b, pb = _buckets
    end = at_ns // step_ns - 1 - b.first
    T = np.array([at_ns])
    parts = []
    if spec.stats and spec.channels:
        parts.append(end_window_stats(b, end, ks, spec.stats, taus).ravel())
    if pb is not None:
        parts.append(end_window_corr(pb, end, ks).ravel())
    if spec.spectral is not None:
        assert X is not None
        chans = [spec.channels.index(c) for c in spec.spectral.sensors]
        parts.append(band_energy(ts, X[:, chans], spec.spectral, step_ns, T)[0])
    if spec.baseline is not None:
        bl = spec.baseline
        chans = [spec.channels.index(c) for c in bl.sensors]
        mean = end_window_stats(b, end, (bl.window_minutes // spec.step_minutes,), ("mean",), None)[
            chans, 0, 0
        ]
        parts.append(_deviation(mean[None, :], T, _resets, _baselines)[0])
    if spec.maintenance_age:
        parts.append(_hours_since(T, _resets))
    return np.concatenate(parts) if parts else np.empty(0)


def compute_online_features(
    window: pd.DataFrame,
    spec: FeatureSpec,
    at: pd.Timestamp,
    *,
    context: FeatureContext | None = None,
) -> pd.DataFrame:
    """Features of each machine at step end `at`, from a raw trailing window (DataFrame form).

    Only readings in `[at - spec.lookback, at)` are used, so the result equals the batch result.
    Machines without a reading in `[at - step, at)` get no row.
    """
    at_ns = pd.Timestamp(at).as_unit("ns").value
    rows, ids = [], []
    for m, g in window.groupby("machine_id", sort=True):
        g = g.sort_values("timestamp", kind="stable")
        ts = pd.DatetimeIndex(g["timestamp"]).tz_convert("UTC").as_unit("ns").asi8
        v = online_feature_vector(
            ts,
            g[list(spec.sensors)].to_numpy(dtype=float),
            spec,
            at_ns,
            context=context,
            machine=str(m),
        )
        if v is not None:
            rows.append(v)
            ids.append(m)
    if not rows:
        return _empty(spec)
    out = pd.DataFrame(np.vstack(rows), columns=spec.feature_names)
    out.insert(0, "timestamp", pd.DatetimeIndex([pd.Timestamp(at_ns, tz="UTC")] * len(rows)))
    out.insert(0, "machine_id", np.asarray(ids, dtype=object))
    return out

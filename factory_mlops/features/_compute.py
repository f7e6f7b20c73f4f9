"""Windowed sensor features, computed the same way in training (batch) and at the edge (online).

The computation is exact and history-independent: a feature row at step end `T` depends only on the
readings in `[T - max window, T)`, so computing it from the whole history (training) or from just
that trailing window (edge) gives the same numbers. Readings are first reduced to per-step buckets
(count, sums, min, max, last); each window is then a sum over its last `k` buckets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from factory_mlops.features._spec import FeatureSpec

_NS_PER_HOUR = 3_600_000_000_000


def _bucket_table(values: np.ndarray, ts_ns: np.ndarray, step_ns: int) -> dict[str, np.ndarray]:
    """Reduce one machine's readings (sorted by time) to per-step buckets for every sensor.

    Returns arrays over the dense bucket grid `first..last`, each of shape (n_buckets, n_sensors),
    plus `bucket` (the bucket numbers).
    """
    bucket = ts_ns // step_ns
    first, last = int(bucket[0]), int(bucket[-1])
    nb = last - first + 1
    pos = (bucket - first).astype(np.int64)
    tau = (ts_ns - bucket * step_ns) / _NS_PER_HOUR  # hours since bucket start
    ns = values.shape[1]
    valid = ~np.isnan(values)
    x = np.where(valid, values, 0.0)
    t = np.where(valid, tau[:, None], 0.0)

    def add(arr: np.ndarray) -> np.ndarray:
        out = np.zeros((nb, ns))
        np.add.at(out, pos, arr)
        return out

    mins = np.full((nb, ns), np.inf)
    maxs = np.full((nb, ns), -np.inf)
    np.minimum.at(mins, pos, np.where(valid, values, np.inf))
    np.maximum.at(maxs, pos, np.where(valid, values, -np.inf))
    # last valid value per bucket: rows are time-sorted, so the highest row index wins
    last_vals = np.full((nb, ns), np.nan)
    rows = np.arange(len(pos))
    for j in range(ns):
        sel = valid[:, j]
        if sel.any():
            idx = np.full(nb, -1)
            np.maximum.at(idx, pos[sel], rows[sel])
            ok = idx >= 0
            last_vals[ok, j] = values[idx[ok], j]
    return {
        "bucket": np.arange(first, last + 1),
        "has_rows": np.bincount(pos, minlength=nb) > 0,
        "n": add(valid.astype(float)),
        "sx": add(x),
        "sxx": add(x * x),
        "st": add(t),
        "stx": add(t * x),
        "stt": add(t * t),
        "min": mins,
        "max": maxs,
        "last": last_vals,
    }


def _windows(b: dict[str, np.ndarray], k: int, step_h: float, stats: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Aggregate k trailing buckets (ending at each bucket) into the requested statistics."""
    ns = b["n"].shape[1]

    def win(arr: np.ndarray, fill: float = 0.0) -> np.ndarray:
        padded = np.concatenate([np.full((k - 1, ns), fill), arr]) if k > 1 else arr
        return sliding_window_view(padded, k, axis=0)  # (nb, ns, k)

    # offset (hours) of each bucket start relative to the window end T, by position in the window
    off = step_h * (np.arange(k) - k)
    n = win(b["n"]).sum(-1)
    sx = win(b["sx"]).sum(-1)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if "mean" in stats:
            out["mean"] = np.where(n > 0, sx / n, np.nan)
        if "std" in stats:
            sxx = win(b["sxx"]).sum(-1)
            var = (sxx - sx * sx / np.where(n > 0, n, 1)) / np.where(n > 1, n - 1, 1)
            out["std"] = np.where(n > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)
        if "min" in stats:
            m = win(b["min"], np.inf).min(-1)
            out["min"] = np.where(np.isfinite(m), m, np.nan)
        if "max" in stats:
            m = win(b["max"], -np.inf).max(-1)
            out["max"] = np.where(np.isfinite(m), m, np.nan)
        if "last" in stats:
            wl = win(b["last"], np.nan)  # (nb, ns, k)
            has = ~np.isnan(wl)
            # index of the last non-NaN bucket in each window (k-1-argmax over the reversed axis)
            rev_first = np.argmax(has[..., ::-1], axis=-1)
            idx = k - 1 - rev_first
            vals = np.take_along_axis(wl, idx[..., None], axis=-1)[..., 0]
            out["last"] = np.where(has.any(-1), vals, np.nan)
        if "slope" in stats:
            wn, wt = win(b["n"]), win(b["st"])
            st = (wn * off).sum(-1) + wt.sum(-1)
            stx = (win(b["sx"]) * off).sum(-1) + win(b["stx"]).sum(-1)
            stt = (wn * off * off).sum(-1) + 2 * (wt * off).sum(-1) + win(b["stt"]).sum(-1)
            den = n * stt - st * st
            ok = (n > 1) & (den > 1e-12 * np.maximum(n * stt, 1e-300))
            out["slope"] = np.where(ok, (n * stx - st * sx) / np.where(ok, den, 1.0), np.nan)
    return out


def compute_features(
    readings: pd.DataFrame,
    spec: FeatureSpec,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Compute features per machine at every step end `T` where the machine reported in `[T-step, T)`.

    Args:
        readings: columns `timestamp` (UTC), `machine_id` and every sensor of `spec`.
        spec: the feature spec.
        start, end: keep rows with `start < T <= end` (either may be None). Supply at least
            `spec.lookback` of readings before `start` for complete windows.

    Returns:
        DataFrame with `machine_id`, `timestamp` (= T) and `spec.feature_names`, sorted by
        (timestamp, machine_id).
    """
    missing = [c for c in ("timestamp", "machine_id", *spec.sensors) if c not in readings.columns]
    if missing:
        raise KeyError(f"readings lack columns {missing} required by feature spec {spec.hash}")
    step_ns = int(spec.step.value)
    step_h = spec.step_minutes / 60.0
    cols = ["machine_id", "timestamp", *spec.feature_names]
    frames: list[pd.DataFrame] = []
    df = readings.sort_values(["machine_id", "timestamp"], kind="stable")
    ts_all = df["timestamp"].dt.tz_convert("UTC").astype("int64").to_numpy() if len(df) else np.array([])
    vals_all = df[list(spec.sensors)].to_numpy(dtype=float)
    machines = df["machine_id"].to_numpy()
    if len(df):
        bounds = np.flatnonzero(machines[1:] != machines[:-1]) + 1
        starts, stops = np.r_[0, bounds], np.r_[bounds, len(df)]
    else:
        starts = stops = np.array([], dtype=int)
    for a, z in zip(starts, stops, strict=True):
        b = _bucket_table(vals_all[a:z], ts_all[a:z], step_ns)
        keep = b["has_rows"]
        T = (b["bucket"] + 1) * step_ns
        if start is not None:
            keep &= pd.DatetimeIndex(T, tz="UTC") > start
        if end is not None:
            keep &= pd.DatetimeIndex(T, tz="UTC") <= end
        if not keep.any():
            continue
        block: dict[str, np.ndarray] = {}
        for w in spec.windows_minutes:
            stats = _windows(b, w // spec.step_minutes, step_h, spec.stats)
            for si, s in enumerate(spec.sensors):
                for stat in spec.stats:
                    block[f"{s}__{stat}_{w}m"] = stats[stat][keep, si]
        frame = pd.DataFrame(block)[spec.feature_names]
        frame.insert(0, "timestamp", pd.DatetimeIndex(T[keep], tz="UTC"))
        frame.insert(0, "machine_id", machines[a])
        frames.append(frame)
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
        empty["machine_id"] = empty["machine_id"].astype(object)
        empty["timestamp"] = pd.Series(dtype="datetime64[ns, UTC]")
        return empty[cols]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["timestamp", "machine_id"], kind="stable", ignore_index=True)


def latest_step_end(ts: pd.Timestamp, spec: FeatureSpec) -> pd.Timestamp:
    """The step end `T` whose bucket contains `ts` (the row the edge scores after reading `ts`)."""
    step_ns = int(spec.step.value)
    return pd.Timestamp((ts.value // step_ns + 1) * step_ns, tz="UTC")


def compute_online_features(window: pd.DataFrame, spec: FeatureSpec, at: pd.Timestamp) -> pd.DataFrame:
    """Features of each machine at step end `at`, from a raw trailing window (the edge's path).

    Only readings in `[at - spec.lookback, at)` are used, so the result equals the batch result.
    Machines without a reading in `[at - step, at)` get no row.
    """
    lo = at - spec.lookback
    ts = window["timestamp"]
    sel = window[(ts >= lo) & (ts < at)]
    return compute_features(sel, spec, start=at - spec.step, end=at)

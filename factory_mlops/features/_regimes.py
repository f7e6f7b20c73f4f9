"""Operating-regime normalisation: cluster the operating settings, standardise sensors per regime.

C-MAPSS FD002 engines fly in six operating conditions (altitude, Mach, throttle); a sensor's level
is mostly the condition, not the wear. Fitting k-means on the settings and standardising each sensor
by its regime's mean and SD leaves the wear. The fit is data: it is stored in the spec (and so in
its hash, the registry and the bundle) and applied per reading, identically in training and at the
edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.features._spec import FeatureSpec


def fit_regimes(
    readings: pd.DataFrame, spec: FeatureSpec, *, seed: int = 0, max_rows: int = 200_000
) -> FeatureSpec:
    """Fit the spec's regimes on `readings` and return the fitted spec (a new hash)."""
    from sklearn.cluster import KMeans

    r = spec.regimes
    if r is None:
        raise ValueError("the spec declares no operating regimes")
    settings = readings[list(r.settings)].to_numpy(dtype=float)
    ok = ~np.isnan(settings).any(axis=1)
    if ok.sum() < r.n_regimes * 10:
        raise ValueError(
            f"{int(ok.sum())} readings with all settings {list(r.settings)} are too few to fit "
            f"{r.n_regimes} regimes; ingest more data before fitting"
        )
    x = settings[ok]
    if len(x) > max_rows:
        x = x[np.random.default_rng(seed).choice(len(x), max_rows, replace=False)]
    center, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    km = KMeans(n_clusters=r.n_regimes, n_init=10, random_state=seed).fit((x - center) / scale)
    # order regimes by centroid so the fit (and hash) does not depend on k-means' label order
    cent = km.cluster_centers_
    order = np.lexsort(cent.T[::-1])
    cent = cent[order]
    fit: dict[str, Any] = {
        "center": center.tolist(),
        "scale": scale.tolist(),
        "centroids": cent.tolist(),
    }
    labels = _assign(settings, fit)
    means, sds = {}, {}
    for s in r.sensors:
        v = readings[s].to_numpy(dtype=float)
        m_row, s_row = [], []
        for k in range(r.n_regimes):
            sel = v[(labels == k) & ~np.isnan(v)]
            mu = float(sel.mean()) if len(sel) else float("nan")
            sd = float(sel.std(ddof=1)) if len(sel) > 1 else float("nan")
            m_row.append(mu)
            s_row.append(sd if sd > 0 else 1.0)
        means[s], sds[s] = m_row, s_row
    fit["means"], fit["sds"] = means, sds
    return spec.with_regime_fit(fit)


def _assign(settings: np.ndarray, fit: dict[str, Any]) -> np.ndarray:
    """Nearest centroid of each row (-1 where a setting is missing)."""
    z = (settings - np.asarray(fit["center"])) / np.asarray(fit["scale"])
    cent = np.asarray(fit["centroids"])
    d = ((z[:, None, :] - cent[None, :, :]) ** 2).sum(axis=2)
    lab = np.argmin(np.where(np.isnan(d), np.inf, d), axis=1)
    return np.where(np.isnan(settings).any(axis=1), -1, lab)


def normalise(columns: dict[str, np.ndarray], spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Replace each regime sensor by its per-regime standardised value (NaN if the regime is unknown)."""
    r = spec.regimes
    if r is None:
        return columns
    if r.fit is None:
        raise ValueError(
            "the feature spec declares operating regimes that are not fitted yet: call "
            "fit_regimes(readings, spec) on training data (the pipeline does this from the first "
            "`features.regimes.fit_days` days)"
        )
    settings = np.column_stack([columns[s] for s in r.settings])
    lab = _assign(settings, r.fit)
    known = lab >= 0
    li = np.where(known, lab, 0)
    out = dict(columns)
    for s in r.sensors:
        mu = np.asarray(r.fit["means"][s], dtype=float)[li]
        sd = np.asarray(r.fit["sds"][s], dtype=float)[li]
        out[s] = np.where(known, (columns[s] - mu) / sd, np.nan)
    return out

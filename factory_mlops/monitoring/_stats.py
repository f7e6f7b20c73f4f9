"""Vectorised drift statistics of one batch against a quantile-sketch reference: KS, Wasserstein, PSI.

A batch (e.g. a day of feature rows, 192 × 90) is compared with its reference for every feature at
once: numpy over the 2-D array, no Python loop per row or per feature (the only loop is over groups
of sketches with a different number of quantiles, normally one group).

The reference of a feature is a `QuantileSketch`: `n_quantiles` (default 101) quantiles of its
finite values at probabilities p_k = (1 - cos(pi k/(K-1)))/2 (0 .. 1, denser in the tails, see
`sketch_probs`), plus the count, mean, standard deviation, missing share and an effective sample
size. Its CDF is taken as the piecewise-linear function through (quantile_k, p_k), so a jump (many
equal values) stays a jump. Against it:

- **Kolmogorov-Smirnov D** = sup |F_ref(x) - F_cur(x)|, with F_cur the empirical CDF of the
  batch's finite values. It is exact for that piecewise-linear F_ref; against the reference
  sample's own empirical CDF (what `scipy.stats.ks_2samp` uses) the difference is at most the
  widest probability step plus the ECDF's own steps, ``pi/(2(K-1)) + 2/reference_count``
  (0.016 + 2/n for K = 101): between two knots the empirical CDF stays within one step of the line. The asymptotic p-value uses the *effective* sample sizes (see
  `effective_sample_size`): the rows of a day are strongly autocorrelated (a 24 h rolling mean
  computed every hour barely moves between rows, and a few machines make all rows), so even with
  that correction p-values are optimistic. Thresholds act on D (`DriftConfig.ks_critical`), never
  on the p-value.
- **Wasserstein-1** = integral of |F_ref(x) - F_cur(x)| dx (= integral of |Q_ref(p) - Q_cur(p)| dp),
  computed exactly between the same two CDFs, then divided by the reference standard deviation
  (IQR/1.349 when the standard deviation is numerically zero; NaN with a reason when both are),
  so thresholds are unitless (`DriftConfig.wasserstein_critical`, in reference sigmas). This is
  comparable to Evidently's default numerical drift method for references of more than 1,000
  rows, "Wasserstein distance (normed)" = `scipy.stats.wasserstein_distance / std(reference)`,
  whose default threshold is 0.1.
- **PSI** (`psi_matrix`) against the binned reference of `_psi.py`, vectorised; it gives the same
  numbers as `psi_frame`, which the daily report's severity keeps using.

KS and Wasserstein ignore missing values (PSI counts them in their own bin); non-finite values
(NaN, ±inf) count as missing for KS and Wasserstein.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.monitoring._psi import _EPS, BinnedReference

DEFAULT_QUANTILES = 101
#: A scale at or below this fraction of max(1, |mean|) counts as zero (a constant feature).
_ZERO_SCALE = 1e-12
#: Lag-1 autocorrelation is capped here, so an effective sample size never collapses to zero.
_MAX_RHO = 0.999
#: How `sketch_probs` places the quantiles; stored with each sketch.
GRID = "cosine"


def sketch_probs(n_quantiles: int) -> np.ndarray:
    """Probabilities of a sketch's quantiles: (1 - cos(pi k / (K-1))) / 2, k = 0..K-1.

    Denser in the tails than an even grid (first step 0.00025 instead of 0.01 for K = 101), so
    the sparse extremes of a skewed or heavy-tailed reference are not smeared over a wide
    interval, which is where an even grid loses most Wasserstein accuracy; the widest step, at
    the median, is pi/(2(K-1)) = 0.0157 (this bounds the KS approximation error).
    """
    return 0.5 * (1.0 - np.cos(np.pi * np.linspace(0.0, 1.0, n_quantiles)))


def _finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _float_or_nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class QuantileSketch:
    """Reference distribution of one feature: quantiles of its finite values and a few moments.

    Attributes
    ----------
    quantiles
        Values at the probabilities `sketch_probs(n_quantiles)` (first = min, last = max, denser
        in the tails); empty when the reference had no finite value.
    count
        Number of finite reference values.
    missing_share
        Share of reference rows that were missing or not finite.
    mean, std
        Mean and population standard deviation (ddof=0, as Evidently) of the finite values.
    effective_count
        Effective number of independent values (see `effective_sample_size`), for p-values.
    """

    quantiles: tuple[float, ...]
    count: int
    missing_share: float
    mean: float
    std: float
    effective_count: float

    @property
    def n_quantiles(self) -> int:
        return len(self.quantiles)

    @property
    def probs(self) -> np.ndarray:
        """The probabilities of the quantiles."""
        return sketch_probs(self.n_quantiles)

    @property
    def iqr(self) -> float:
        """Interquartile range read from the quantiles (linear between knots); NaN when empty."""
        if not self.quantiles:
            return float("nan")
        q25, q75 = np.interp([0.25, 0.75], self.probs, np.asarray(self.quantiles))
        return float(q75 - q25)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (NaN moments of an empty sketch become None)."""
        return {
            "quantiles": [float(q) for q in self.quantiles],
            "count": int(self.count),
            "missing_share": float(self.missing_share),
            "mean": _finite_or_none(self.mean),
            "std": _finite_or_none(self.std),
            "effective_count": float(self.effective_count),
            "grid": GRID,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QuantileSketch:
        missing = {"quantiles", "count"} - set(d)
        if missing:
            raise ValueError(f"quantile sketch lacks {sorted(missing)}; got keys {sorted(d)}")
        if d.get("grid", GRID) != GRID:
            raise ValueError(
                f"quantile sketch on grid {d.get('grid')!r}; this version reads {GRID!r} sketches only: "
                f"rebuild the reference (retrain) to get comparable KS/Wasserstein figures"
            )
        qs = tuple(float(q) for q in d["quantiles"])
        if any(b < a for a, b in pairwise(qs)):
            raise ValueError(
                "quantile sketch has decreasing quantiles: the stored reference is corrupt"
            )
        count = int(d["count"])
        return cls(
            quantiles=qs,
            count=count,
            missing_share=float(d.get("missing_share", 0.0)),
            mean=_float_or_nan(d.get("mean")),
            std=_float_or_nan(d.get("std")),
            effective_count=float(d.get("effective_count", count)),
        )


# ------------------------------------------------------------------------------------------------
# input handling


def _matrix(current: pd.DataFrame | np.ndarray, columns: Sequence[str]) -> np.ndarray:
    """The batch as a float (rows, features) array in `columns` order."""
    if isinstance(current, pd.DataFrame):
        absent = [c for c in columns if c not in current.columns]
        if absent:
            raise ValueError(
                f"the batch lacks {len(absent)} reference feature column(s): {absent[:10]}"
                f"{' ...' if len(absent) > 10 else ''}; compute the features with the model's feature spec"
            )
        return current[list(columns)].to_numpy(dtype=float)
    arr = np.asarray(current, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(columns):
        raise ValueError(
            f"the batch array has shape {arr.shape}; expected (rows, {len(columns)}) in the "
            f"reference's feature order"
        )
    return arr


def _groups_array(groups: Iterable[Any] | None, rows: int) -> np.ndarray | None:
    if groups is None:
        return None
    g = np.asarray(pd.Series(groups).to_numpy())
    if len(g) != rows:
        raise ValueError(
            f"groups has {len(g)} entries for a batch of {rows} rows; give one per row"
        )
    return g


def time_ordered(
    frame: pd.DataFrame, group_column: str = "machine_id", time_column: str = "timestamp"
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """`frame` sorted by group then time, and its groups, for `effective_sample_size`.

    Without `group_column` the frame is sorted by time only and treated as one series (groups None).
    """
    if group_column in frame.columns:
        keys = [group_column] + ([time_column] if time_column in frame.columns else [])
        out = frame.sort_values(keys, kind="stable")
        return out, out[group_column].to_numpy()
    if time_column in frame.columns:
        return frame.sort_values(time_column, kind="stable"), None
    return frame, None


# ------------------------------------------------------------------------------------------------
# sketches


def effective_sample_size(values: np.ndarray, groups: Iterable[Any] | None = None) -> np.ndarray:
    """Effective number of independent values per column of `values` (rows, features).

    Rows are taken as a time series within each group (e.g. machine), in row order; the lag-1
    autocorrelation rho of each column is estimated over consecutive rows of the same group and
    the AR(1) correction n_eff = n (1 - rho) / (1 + rho) applied (rho clipped to [0, 0.999]; at
    least 1 when there is a value). Hourly rows of 24 h rolling features have rho near 1, so a day
    of 192 rows is worth only a handful of independent values. This is an approximation (features
    are not AR(1), and rows of different machines in the same hour are correlated too), so the
    p-values that use it are still optimistic.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, features); got shape {x.shape}")
    finite = np.isfinite(x)
    n = finite.sum(axis=0).astype(float)
    if x.shape[0] < 3:
        return n
    g = _groups_array(groups, x.shape[0])
    z = np.where(finite, x, 0.0)
    mean = z.sum(axis=0) / np.maximum(n, 1.0)
    z = np.where(finite, x - mean, 0.0)
    var = (z * z).sum(axis=0) / np.maximum(n, 1.0)
    same = np.ones(x.shape[0] - 1, dtype=bool) if g is None else g[1:] == g[:-1]
    pair = finite[1:] & finite[:-1] & same[:, None]
    npairs = pair.sum(axis=0)
    cov = np.where(pair, z[1:] * z[:-1], 0.0).sum(axis=0) / np.maximum(npairs, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where((var > 0) & (npairs > 0), cov / var, 0.0)
    rho = np.clip(rho, 0.0, _MAX_RHO)
    n_eff = n * (1.0 - rho) / (1.0 + rho)
    return np.where(n > 0, np.maximum(n_eff, 1.0), 0.0)


def _sorted_quantiles(s: np.ndarray, m: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles (numpy's default) of column-sorted `s` with `m` finite values."""
    pos = probs[:, None] * np.maximum(m - 1, 0)[None, :]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(m - 1, 0)[None, :])
    frac = pos - lo
    a = np.take_along_axis(s, lo, axis=0)
    b = np.take_along_axis(s, hi, axis=0)
    q = np.where(frac > 0, a + (b - a) * frac, a)
    return np.maximum.accumulate(q, axis=0)  # interpolation must never step backwards


def fit_sketches(
    frame: pd.DataFrame | np.ndarray,
    columns: Sequence[str],
    n_quantiles: int = DEFAULT_QUANTILES,
    *,
    groups: Iterable[Any] | None = None,
) -> dict[str, QuantileSketch]:
    """A `QuantileSketch` per column, all columns at once.

    `groups` (one per row, e.g. machine ids) with rows in time order within each group give the
    effective sample sizes (see `effective_sample_size`); without them the rows are one series.
    """
    if n_quantiles < 3:
        raise ValueError(
            f"n_quantiles={n_quantiles}: a sketch needs at least 3 quantiles (min, median, max)"
        )
    x = _matrix(frame, columns)
    rows = x.shape[0]
    x = np.where(np.isfinite(x), x, np.nan)
    m = np.isfinite(x).sum(axis=0)
    s = np.sort(x, axis=0)  # NaN last
    q = (
        _sorted_quantiles(s, m, sketch_probs(n_quantiles))
        if rows
        else np.empty((n_quantiles, len(columns)))
    )
    z = np.where(np.isfinite(x), x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = z.sum(axis=0) / m
        std = np.sqrt(np.where(np.isfinite(x), (x - mean) ** 2, 0.0).sum(axis=0) / m)
    n_eff = effective_sample_size(x, groups)
    out: dict[str, QuantileSketch] = {}
    for j, name in enumerate(columns):  # building the result objects, not computing
        has = bool(m[j] > 0)
        out[name] = QuantileSketch(
            quantiles=tuple(float(v) for v in q[:, j]) if has else (),
            count=int(m[j]),
            missing_share=float(1.0 - m[j] / rows) if rows else 0.0,
            mean=float(mean[j]) if has else float("nan"),
            std=float(std[j]) if has else float("nan"),
            effective_count=float(n_eff[j]),
        )
    return out


def fit_sketch(
    values: np.ndarray, n_quantiles: int = DEFAULT_QUANTILES, *, groups: Iterable[Any] | None = None
) -> QuantileSketch:
    """`QuantileSketch` of one variable (see `fit_sketches`)."""
    return fit_sketches(
        np.asarray(values, dtype=float).reshape(-1, 1), ["_"], n_quantiles, groups=groups
    )["_"]


# ------------------------------------------------------------------------------------------------
# KS and Wasserstein in one merged pass


@dataclass(frozen=True)
class _Distances:
    ks: np.ndarray
    w1: np.ndarray
    n: np.ndarray  # finite current values per feature


def _distances(knots: np.ndarray, values: np.ndarray, probs: np.ndarray) -> _Distances:
    """KS D and raw Wasserstein-1 of each column of `values` against piecewise-linear CDFs.

    `knots` (K, F): each column non-decreasing and finite, the CDF passing through
    (knots[k], probs[k]). `values` (n, F): NaN = missing. Per feature, the knots and the sorted
    values are merged by one stable sort (two sorted runs, so the merge is linear; knots first, so
    a value equal to a knot comes after it). Between two consecutive merged points the current
    ECDF is constant and the reference CDF linear, so the supremum and the integral of their
    difference are exact on every segment. Works on (features, points) rows, which are contiguous.
    """
    k_count = knots.shape[0]
    kt = np.ascontiguousarray(knots.T)  # (F, K)
    s = np.sort(values.T, axis=1)  # (F, n), NaN last
    m = np.isfinite(s).sum(axis=1)
    merged = np.concatenate([kt, s], axis=1)
    order = np.argsort(merged, axis=1, kind="stable")
    t = np.take_along_axis(merged, order, axis=1)
    is_knot = order < k_count
    knots_le = np.cumsum(is_knot, axis=1)  # knots at or before each merged point
    with np.errstate(divide="ignore", invalid="ignore"):
        ecdf = (
            np.cumsum(~is_knot, axis=1) / m[:, None]
        )  # share of values at or before (NaN sort last)
    t0, t1 = t[:, :-1], t[:, 1:]
    delta = t1 - t0
    valid = np.isfinite(delta) & (delta > 0)
    kk = knots_le[:, :-1]
    lo = np.clip(kk - 1, 0, k_count - 1)
    hi = np.clip(kk, 0, k_count - 1)
    qlo = np.take_along_axis(kt, lo, axis=1)
    qhi = np.take_along_axis(kt, hi, axis=1)
    width = qhi - qlo
    inside = (kk > 0) & (kk < k_count) & (width > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(inside, (probs[hi] - probs[lo]) / np.where(inside, width, 1.0), 0.0)
    base = np.where(kk >= k_count, 1.0, np.where(kk > 0, probs[lo], 0.0))
    c = ecdf[:, :-1]
    a0 = np.where(valid, np.where(inside, base + slope * (t0 - qlo), base) - c, 0.0)
    a1 = np.where(valid, np.where(inside, base + slope * (t1 - qlo), base) - c, 0.0)
    s0, s1 = np.abs(a0), np.abs(a1)
    ks = np.max(np.maximum(s0, s1), axis=1, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(s0 + s1 > 0, (a0 * a0 + a1 * a1) / (2.0 * (s0 + s1)), 0.0)
    area = np.where(a0 * a1 >= 0, 0.5 * (s0 + s1), crossing) * np.where(valid, delta, 0.0)
    return _Distances(ks=ks, w1=area.sum(axis=1), n=m)


def _kolmogorov_sf(lam: np.ndarray) -> np.ndarray:
    from scipy.special import kolmogorov  # scipy comes with scikit-learn

    return np.asarray(kolmogorov(lam), dtype=float)


def _scale(sk: QuantileSketch) -> tuple[float, str]:
    """Reference scale for the normalised Wasserstein distance, or NaN and why."""
    if sk.count == 0:
        return float("nan"), "reference has no finite values"
    tol = _ZERO_SCALE * max(1.0, abs(sk.mean)) if math.isfinite(sk.mean) else _ZERO_SCALE
    if math.isfinite(sk.std) and sk.std > tol:
        return sk.std, ""
    robust = sk.iqr / 1.349
    if math.isfinite(robust) and robust > tol:
        return robust, ""
    return float(
        "nan"
    ), "reference is constant (std and IQR are 0): normalised Wasserstein undefined"


def drift_statistics(
    sketches: Mapping[str, QuantileSketch],
    current: pd.DataFrame | np.ndarray,
    *,
    binned: Mapping[str, BinnedReference] | None = None,
    groups: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """KS, Wasserstein (and PSI when `binned` is given) of every sketched feature, in one pass.

    Parameters
    ----------
    sketches
        Reference sketch per feature (`fit_sketches`); the result has one row per key, in order.
    current
        The batch: a DataFrame with those columns, or a (rows, features) array in that order.
    binned
        Optional binned references (`fit_reference`) for the same features, for the PSI column.
    groups
        One group (machine) per row, rows in time order within a group, for the effective sample
        size of the p-value; without it the rows are one series in the given order.

    Returns
    -------
    DataFrame indexed by feature: `ks` (D), `ks_pvalue` (asymptotic, effective sizes; optimistic),
    `wasserstein` (normalised by `scale`), `wasserstein_raw` (in the feature's unit), `scale`,
    `n_current`, `n_eff_current`, `n_eff_reference`, `psi` (if `binned`), and `reason` ("" when
    every figure is defined; else why some are NaN).
    """
    names = list(sketches)
    x = _matrix(current, names)
    x = np.where(np.isfinite(x), x, np.nan)
    g = _groups_array(groups, x.shape[0])
    ks = np.full(len(names), np.nan)
    w1 = np.full(len(names), np.nan)
    n_cur = np.isfinite(x).sum(axis=0)
    reasons = [""] * len(names)
    by_k: dict[int, list[int]] = {}
    for j, name in enumerate(names):
        sk = sketches[name]
        if sk.count == 0 or not sk.quantiles:
            reasons[j] = "reference has no finite values"
        elif n_cur[j] == 0:
            reasons[j] = "no finite values in the batch"
        else:
            by_k.setdefault(sk.n_quantiles, []).append(j)
    for cols in by_k.values():  # one group unless sketches of different resolutions are mixed
        knots = np.array([sketches[names[j]].quantiles for j in cols], dtype=float).T
        d = _distances(knots, x[:, cols], sketch_probs(knots.shape[0]))
        ks[cols] = d.ks
        w1[cols] = d.w1
    scales = np.empty(len(names))
    for j, name in enumerate(names):
        scales[j], why = _scale(sketches[name])
        if why and not reasons[j]:
            reasons[j] = why
    n_eff_cur = effective_sample_size(x, g)
    n_eff_ref = np.array([sketches[n].effective_count for n in names], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        en = n_eff_ref * n_eff_cur / (n_eff_ref + n_eff_cur)
        sq = np.sqrt(en)
        # Stephens' small-sample correction of the asymptotic Kolmogorov distribution
        lam = (sq + 0.12 + 0.11 / sq) * ks
    pvalue = np.where(
        np.isfinite(lam), _kolmogorov_sf(np.where(np.isfinite(lam), lam, 0.0)), np.nan
    )
    out = pd.DataFrame(
        {
            "ks": ks,
            "ks_pvalue": pvalue,
            "wasserstein": w1 / scales,
            "wasserstein_raw": w1,
            "scale": scales,
            "n_current": n_cur.astype(int),
            "n_eff_current": n_eff_cur,
            "n_eff_reference": n_eff_ref,
            "reason": reasons,
        },
        index=pd.Index(names, name="feature"),
    )
    if binned is not None:
        absent = [n for n in names if n not in binned]
        if absent:
            raise ValueError(f"binned references lack sketched features {absent[:10]}")
        out["psi"] = psi_matrix({n: binned[n] for n in names}, x)
    return out


def ks_frame(
    sketches: Mapping[str, QuantileSketch],
    current: pd.DataFrame | np.ndarray,
    *,
    groups: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """KS D and p-value of every sketched feature (columns `ks`, `ks_pvalue`, sizes, `reason`)."""
    cols = ["ks", "ks_pvalue", "n_current", "n_eff_current", "n_eff_reference", "reason"]
    return drift_statistics(sketches, current, groups=groups)[cols]


def wasserstein_frame(
    sketches: Mapping[str, QuantileSketch], current: pd.DataFrame | np.ndarray
) -> pd.DataFrame:
    """Normalised and raw Wasserstein-1 of every sketched feature (`wasserstein`, `wasserstein_raw`, `scale`, `reason`)."""
    return drift_statistics(sketches, current)[
        ["wasserstein", "wasserstein_raw", "scale", "n_current", "reason"]
    ]


def ks_statistic(sketch: QuantileSketch, values: np.ndarray) -> float:
    """KS D of one variable's `values` against its sketch; NaN when either side has no finite value."""
    return float(
        drift_statistics({"_": sketch}, np.asarray(values, dtype=float).reshape(-1, 1))["ks"].iloc[
            0
        ]
    )


def wasserstein_normed(sketch: QuantileSketch, values: np.ndarray) -> float:
    """Normalised Wasserstein-1 of one variable's `values` against its sketch (NaN when undefined)."""
    return float(
        drift_statistics({"_": sketch}, np.asarray(values, dtype=float).reshape(-1, 1))[
            "wasserstein"
        ].iloc[0]
    )


# ------------------------------------------------------------------------------------------------
# PSI, vectorised


def _count_le(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per column, how many `edges` (E, F) are <= each value (n, F): a 2-D searchsorted(right).

    A broadcast comparison (n, F, E): PSI has few edges (bins - 1), so this is cheaper than a sort.
    """
    return (values[:, :, None] >= edges.T[None, :, :]).sum(axis=2)


def psi_matrix(
    references: Mapping[str, BinnedReference], current: pd.DataFrame | np.ndarray
) -> np.ndarray:
    """PSI of every column against its binned reference, as `psi_frame` computes it, vectorised.

    Returns an array in the order of `references`; NaN for every feature when the batch is empty.
    """
    names = list(references)
    x = _matrix(current, names)
    rows, nf = x.shape
    if rows == 0:
        return np.full(nf, np.nan)
    n_edges = np.array([len(references[n].edges) for n in names])
    e_max = int(n_edges.max(initial=0))
    edges = np.full((e_max, nf), np.inf)
    ref = np.zeros((e_max + 2, nf))  # bins 0..e_max for values, last row = missing
    for j, name in enumerate(names):  # unpacking the stored references into padded arrays
        ref_j = references[name]
        edges[: n_edges[j], j] = ref_j.edges
        ref[: n_edges[j] + 1, j] = ref_j.shares[:-1]
        ref[-1, j] = ref_j.shares[-1]
    missing = np.isnan(x)
    # +inf readings belong in the top bin of their own edges, never in the padding above it
    xv = np.where(np.isposinf(x), np.finfo(float).max, x)
    idx = _count_le(edges, xv)
    flat = (idx + np.arange(nf)[None, :] * (e_max + 2))[~missing]
    counts = np.bincount(flat, minlength=nf * (e_max + 2)).reshape(nf, e_max + 2).T.astype(float)
    counts[-1] = missing.sum(axis=0)
    cur = counts / rows
    r, c = np.maximum(ref, _EPS), np.maximum(cur, _EPS)
    return np.sum((c - r) * np.log(c / r), axis=0)

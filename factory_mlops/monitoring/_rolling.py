"""Drift of a day against the previous days of *served* features: a rolling baseline.

The daily report compares a day with the model's training reference, which can be weeks old: after
a slow, harmless change every day looks a little drifted, and a sudden step on top of it is hard to
tell apart. Comparing the day with the days just before it (the features the edge actually scored,
e.g. the last 7 days of `sensor_features`) shows the step itself, whatever the model's age.

The rule, with the plant's `DriftConfig` thresholds, is the daily report's feature rule:

- per feature, PSI against the history binned into `bins` quantile bins (missing values are their
  own bin), KS D and the normalised Wasserstein distance against the history's quantile sketch
  (see `_stats.py`);
- each feature's *normal* band, as `build_reference` learns it: when the history spans at least 3
  days with 2 rows or more, every history day is compared with the pooled history and the band is
  the mean + `band_sigmas` standard deviations of that statistic over those days (a day of few,
  autocorrelated machines is never a perfect sample of a week);
- a feature is drifted when its PSI is at or above both `psi_critical` and its band; it counts
  towards warning when at or above both `psi_warning` and its band;
- **critical**: at least `critical_share` of the features with a PSI are drifted; **warning**: at
  least `critical_share` of them count towards warning, or any feature is drifted; else **ok**.

KS and Wasserstein are reported as the shares of features at or above both `ks_critical` /
`wasserstein_critical` and their own bands; like in the daily report they do not change the
severity. There is no score term: the history holds features only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import DriftConfig
from factory_mlops.monitoring._drift import Severity
from factory_mlops.monitoring._psi import fit_reference
from factory_mlops.monitoring._stats import (
    DEFAULT_QUANTILES,
    drift_statistics,
    fit_sketches,
    time_ordered,
)

MIN_BAND_DAYS = 3


def _nan_to_none(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class RollingDriftReport:
    """PSI, KS and Wasserstein per feature of a day against the previous days, and the severity."""

    rows_history: int
    rows_current: int
    history_days: int
    feature_psi: dict[str, float]
    feature_ks: dict[str, float]
    feature_wasserstein: dict[str, float]
    share_drifted: float
    share_drifted_ks: float
    share_drifted_wasserstein: float
    severity: Severity
    drifted_features: list[str]
    reasons: list[str] = field(default_factory=list)
    stat_reasons: dict[str, str] = field(default_factory=dict)
    banded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON dict: NaN (undefined) figures become None."""
        d = asdict(self)
        for key in ("feature_psi", "feature_ks", "feature_wasserstein"):
            d[key] = {k: _nan_to_none(v) for k, v in d[key].items()}
        for key in ("share_drifted", "share_drifted_ks", "share_drifted_wasserstein"):
            d[key] = _nan_to_none(d[key])
        return d


def _check_frame(frame: pd.DataFrame, feature_names: list[str], what: str) -> None:
    absent = [c for c in feature_names if c not in frame.columns]
    if absent:
        raise ValueError(
            f"the {what} lacks {len(absent)} feature column(s): {absent[:10]}"
            f"{' ...' if len(absent) > 10 else ''}; give frames of the same feature spec"
        )


def _daily_chunks(history: pd.DataFrame) -> list[pd.DataFrame]:
    if "timestamp" not in history.columns:
        return []
    days = pd.to_datetime(history["timestamp"], utc=True).dt.floor("D")
    return [g for _, g in history.groupby(days) if len(g) >= 2]


def _band(per_day: np.ndarray, sigmas: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature undefined on every day: no band
        band = np.nanmean(per_day, axis=0) + sigmas * np.nanstd(per_day, axis=0)
    return np.where(np.isfinite(band), band, 0.0)


def _over(values: np.ndarray, limit: float, band: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values >= np.maximum(limit, band))


def rolling_drift(
    history: pd.DataFrame,
    current: pd.DataFrame,
    feature_names: list[str],
    thresholds: DriftConfig,
    *,
    n_quantiles: int = DEFAULT_QUANTILES,
    band_sigmas: float = 3.0,
) -> RollingDriftReport:
    """Drift of `current` (e.g. today's feature rows) against `history` (the previous N days).

    Parameters
    ----------
    history
        Served feature rows of the days before `current` (not the training data). With a
        `timestamp` column the normal bands are learnt per day (see the module docstring); with a
        `machine_id` column the effective sample sizes of the KS p-values are per machine.
    current
        The batch to judge, with the same feature columns.
    feature_names
        The features to compare.
    thresholds
        The plant's `DriftConfig` (psi_warning, psi_critical, critical_share, bins, ks_critical,
        wasserstein_critical).

    Raises
    ------
    ValueError
        When `history` or `current` is empty, a feature column is missing, or the history is not
        before the current batch.
    """
    if not feature_names:
        raise ValueError("rolling drift needs at least one feature name")
    if len(history) == 0:
        raise ValueError(
            "rolling drift needs a baseline: the history of served features is empty; pass the "
            "previous days' feature rows (e.g. the last 7 days of sensor_features before the day)"
        )
    if len(current) == 0:
        raise ValueError("rolling drift on an empty batch: no feature rows for the current day")
    _check_frame(history, feature_names, "history")
    _check_frame(current, feature_names, "current batch")
    if "timestamp" in history.columns and "timestamp" in current.columns:
        h_last = pd.to_datetime(history["timestamp"], utc=True).max()
        c_first = pd.to_datetime(current["timestamp"], utc=True).min()
        if h_last >= c_first:
            raise ValueError(
                f"the history reaches {h_last} but the current batch starts at {c_first}: the "
                f"baseline must be the days *before* the batch; drop the batch's rows from the history"
            )

    binned = {
        n: fit_reference(history[n].to_numpy(dtype=float), thresholds.bins) for n in feature_names
    }
    ordered, groups = time_ordered(history)
    sketches = fit_sketches(ordered, feature_names, n_quantiles, groups=groups)
    cur_ordered, cur_groups = time_ordered(current)
    st = drift_statistics(sketches, cur_ordered, binned=binned, groups=cur_groups)
    psi_v, ks_v, w_v = (st[c].to_numpy(dtype=float) for c in ("psi", "ks", "wasserstein"))

    chunks = _daily_chunks(history)
    banded = len(chunks) >= MIN_BAND_DAYS
    zero = np.zeros(len(feature_names))
    band_psi = band_ks = band_w = zero
    if banded:
        per_day = [drift_statistics(sketches, c, binned=binned) for c in chunks]
        band_psi = _band(np.array([d["psi"].to_numpy() for d in per_day]), band_sigmas)
        band_ks = _band(np.array([d["ks"].to_numpy() for d in per_day]), band_sigmas)
        band_w = _band(np.array([d["wasserstein"].to_numpy() for d in per_day]), band_sigmas)

    names = np.array(feature_names, dtype=object)
    n_psi = int(np.isfinite(psi_v).sum())
    crit_mask = _over(psi_v, thresholds.psi_critical, band_psi)
    warn_mask = _over(psi_v, thresholds.psi_warning, band_psi)
    crit = sorted(names[crit_mask].tolist(), key=lambda k: -psi_v[feature_names.index(k)])
    nan = float("nan")
    share_crit = len(crit) / n_psi if n_psi else nan
    share_warn = int(warn_mask.sum()) / n_psi if n_psi else nan

    def share(values: np.ndarray, limit: float, band: np.ndarray) -> float:
        n = int(np.isfinite(values).sum())
        return int(_over(values, limit, band).sum()) / n if n else nan

    reasons: list[str] = []
    severity: Severity = "ok"
    where = f"against the previous {len(chunks)} day(s)" if chunks else "against the history"
    if n_psi and share_crit >= thresholds.critical_share:
        severity = "critical"
        reasons.append(
            f"{len(crit)}/{n_psi} features ({share_crit:.0%}) have PSI >= {thresholds.psi_critical} "
            f"{where} (share threshold {thresholds.critical_share:.0%})"
        )
    elif n_psi and (share_warn >= thresholds.critical_share or crit):
        severity = "warning"
        reasons.append(
            f"{int(warn_mask.sum())}/{n_psi} features with PSI >= {thresholds.psi_warning}; "
            f"{len(crit)} >= {thresholds.psi_critical} {where}"
        )
    elif n_psi:
        reasons.append(f"max feature PSI {np.nanmax(psi_v):.3f} {where}")
    else:
        reasons.append(
            "no feature has a defined PSI: every value of the batch or history is missing"
        )
    if not banded:
        reasons.append(
            f"no normal band: the history spans fewer than {MIN_BAND_DAYS} days with 2+ rows, so "
            f"the plain thresholds apply"
        )
    return RollingDriftReport(
        rows_history=len(history),
        rows_current=len(current),
        history_days=len(chunks),
        feature_psi=dict(zip(feature_names, map(float, psi_v), strict=True)),
        feature_ks=dict(zip(feature_names, map(float, ks_v), strict=True)),
        feature_wasserstein=dict(zip(feature_names, map(float, w_v), strict=True)),
        share_drifted=share_crit,
        share_drifted_ks=share(ks_v, thresholds.ks_critical, band_ks),
        share_drifted_wasserstein=share(w_v, thresholds.wasserstein_critical, band_w),
        severity=severity,
        drifted_features=crit,
        reasons=reasons,
        stat_reasons={n: str(r) for n, r in st["reason"].items() if r},
        banded=banded,
    )

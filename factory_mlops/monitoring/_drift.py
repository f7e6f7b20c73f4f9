"""The daily drift report: feature and prediction drift against the model's training reference."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from factory_mlops.config import DriftConfig
from factory_mlops.monitoring._psi import BinnedReference, fit_reference, psi, psi_frame
from factory_mlops.monitoring._stats import (
    DEFAULT_QUANTILES,
    QuantileSketch,
    drift_statistics,
    fit_sketches,
    time_ordered,
)

Severity = Literal["ok", "warning", "critical"]
SEVERITY_RANK = {"ok": 0, "warning": 1, "critical": 2}

#: Column of the prediction log holding a model's score, per learning task.
SCORE_COLUMN = {"classification": "probability", "rul": "rul_hours"}


def score_column(task: str) -> str:
    """The prediction column whose drift is watched: `rul_hours` for RUL models, else `probability`."""
    if task not in SCORE_COLUMN:
        raise ValueError(f"unknown learning task {task!r}; known: {sorted(SCORE_COLUMN)}")
    return SCORE_COLUMN[task]


def prediction_scores(predictions: pd.DataFrame, task: str) -> np.ndarray:
    """The scores of a day's predictions whose drift is watched (see `score_column`)."""
    col = score_column(task)
    if col not in predictions.columns:
        raise ValueError(
            f"the predictions lack column {col!r} that a {task} model writes; "
            f"they were scored by another kind of model: score the day again with the deployed one"
        )
    return predictions[col].to_numpy(dtype=float)


@dataclass(frozen=True)
class DriftReference:
    """What "normal" looked like when the model was trained: binned features and scores.

    `score_column` names the prediction column the scores were (`probability`, or `rul_hours`
    for a RUL model); references written before it existed are `probability`.
    `quantiles` holds a `QuantileSketch` per feature for the KS and Wasserstein figures, and
    `normal_ks` / `normal_wasserstein` their normal day-to-day band (as `normal_psi`); references
    written before they existed have none, and their reports give those figures as NaN.
    """

    features: dict[str, BinnedReference]
    prediction: BinnedReference
    feature_spec_hash: str
    rows: int
    normal_psi: dict[str, float] = field(default_factory=dict)
    score_column: str = "probability"
    quantiles: dict[str, QuantileSketch] = field(default_factory=dict)
    normal_ks: dict[str, float] = field(default_factory=dict)
    normal_wasserstein: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "feature_spec_hash": self.feature_spec_hash,
                "rows": self.rows,
                "features": {k: v.to_dict() for k, v in self.features.items()},
                "prediction": self.prediction.to_dict(),
                "normal_psi": self.normal_psi,
                "score_column": self.score_column,
                "quantiles": {k: v.to_dict() for k, v in self.quantiles.items()},
                "normal_ks": self.normal_ks,
                "normal_wasserstein": self.normal_wasserstein,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DriftReference:
        d = json.loads(text)
        return cls(
            features={k: BinnedReference.from_dict(v) for k, v in d["features"].items()},
            prediction=BinnedReference.from_dict(d["prediction"]),
            feature_spec_hash=d["feature_spec_hash"],
            rows=int(d["rows"]),
            normal_psi={k: float(v) for k, v in d.get("normal_psi", {}).items()},
            score_column=str(d.get("score_column", "probability")),
            quantiles={k: QuantileSketch.from_dict(v) for k, v in d.get("quantiles", {}).items()},
            normal_ks={k: float(v) for k, v in d.get("normal_ks", {}).items()},
            normal_wasserstein={k: float(v) for k, v in d.get("normal_wasserstein", {}).items()},
        )


def build_reference(
    features: pd.DataFrame,
    feature_names: list[str],
    scores: np.ndarray,
    spec_hash: str,
    bins: int = 10,
    *,
    band_sigmas: float = 3.0,
    score_column: str = "probability",
    n_quantiles: int = DEFAULT_QUANTILES,
) -> DriftReference:
    """Bin and sketch the reference features, bin the scores, and learn each feature's normal bands.

    A plant has few machines, and a day's feature rows are strongly correlated (one machine's
    24 h mean barely moves within a day), so a normal day already scores a high PSI against the
    pooled reference. As NannyML does with data-driven thresholds, each feature's *normal* PSI
    is the mean + `band_sigmas` standard deviations of the PSI of each reference day against the
    reference; a day only counts as drifted on a feature when it exceeds both that band and the
    plant's `psi_critical`. `scores` are the model's scores, held in the prediction column
    `score_column` (`probability`, or `rul_hours` for a RUL model).

    Each feature also gets a `QuantileSketch` of `n_quantiles` quantiles (for KS and Wasserstein;
    its effective sample size is estimated per `machine_id` in time order) and, like the PSI, a
    normal band of its KS D and normalised Wasserstein distance (reported, not used for severity).
    """
    refs = {n: fit_reference(features[n].to_numpy(dtype=float), bins) for n in feature_names}
    ordered, groups = time_ordered(features)
    sketches = fit_sketches(ordered, feature_names, n_quantiles, groups=groups)
    normal: dict[str, float] = {}
    normal_ks: dict[str, float] = {}
    normal_w: dict[str, float] = {}
    if "timestamp" in features.columns:
        days = features["timestamp"].dt.floor("D")
        chunks = [g for _, g in features.groupby(days) if len(g) >= 2]
        if len(chunks) >= 3:
            for n, ref in refs.items():
                vals = np.array([psi(ref, c[n].to_numpy(dtype=float)) for c in chunks])
                normal[n] = float(np.nanmean(vals) + band_sigmas * np.nanstd(vals))
            per_day = [drift_statistics(sketches, c) for c in chunks]
            normal_ks = _bands(
                np.array([d["ks"].to_numpy() for d in per_day]), feature_names, band_sigmas
            )
            normal_w = _bands(
                np.array([d["wasserstein"].to_numpy() for d in per_day]), feature_names, band_sigmas
            )
    return DriftReference(
        features=refs,
        prediction=fit_reference(np.asarray(scores, dtype=float), bins),
        feature_spec_hash=spec_hash,
        rows=len(features),
        normal_psi=normal,
        score_column=score_column,
        quantiles=sketches,
        normal_ks=normal_ks,
        normal_wasserstein=normal_w,
    )


def _bands(per_day: np.ndarray, names: list[str], sigmas: float) -> dict[str, float]:
    """mean + `sigmas` std over days (rows) of each feature's statistic; features never defined are left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no band
        band = np.nanmean(per_day, axis=0) + sigmas * np.nanstd(per_day, axis=0)
    return {n: float(b) for n, b in zip(names, band, strict=True) if math.isfinite(b)}


def _nan_to_none(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature and on the scores, with the severity the plant's thresholds give.

    KS D (`feature_ks`, with its optimistic p-value `feature_ks_pvalue`) and the normalised
    Wasserstein distance (`feature_wasserstein`, in reference sigmas) per feature, and the shares
    of features over `ks_critical` / `wasserstein_critical` (and their normal bands), are
    reported alongside; they do not change the severity. They are NaN when undefined, with the
    reason per feature in `stat_reasons` (or, for a reference without sketches, in `reasons`).
    """

    rows: int
    feature_psi: dict[str, float]
    prediction_psi: float
    share_drifted: float
    severity: Severity
    drifted_features: list[str]
    reasons: list[str] = field(default_factory=list)
    feature_ks: dict[str, float] = field(default_factory=dict)
    feature_ks_pvalue: dict[str, float] = field(default_factory=dict)
    feature_wasserstein: dict[str, float] = field(default_factory=dict)
    share_drifted_ks: float = float("nan")
    share_drifted_wasserstein: float = float("nan")
    stat_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def max_psi(self) -> float:
        vals = [v for v in self.feature_psi.values() if not math.isnan(v)]
        return max(vals) if vals else float("nan")

    @property
    def drifted_sensors(self) -> list[str]:
        seen: list[str] = []
        for f in self.drifted_features:
            s = f.split("__")[0]
            if s not in seen:
                seen.append(s)
        return seen

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; in the KS/Wasserstein fields NaN (undefined) becomes None, so they are strict JSON."""
        d = asdict(self)
        d["max_psi"] = self.max_psi
        d["drifted_sensors"] = self.drifted_sensors
        for key in ("feature_ks", "feature_ks_pvalue", "feature_wasserstein"):
            d[key] = {k: _nan_to_none(v) for k, v in d[key].items()}
        for key in ("share_drifted_ks", "share_drifted_wasserstein"):
            d[key] = _nan_to_none(d[key])
        return d


@dataclass(frozen=True)
class _DistributionDrift:
    ks: dict[str, float]
    ks_pvalue: dict[str, float]
    wasserstein: dict[str, float]
    share_ks: float
    share_wasserstein: float
    reasons: dict[str, str]


def _share_over(values: dict[str, float], limit: float, band: dict[str, float]) -> float:
    valid = {k: v for k, v in values.items() if not math.isnan(v)}
    if not valid:
        return float("nan")
    return sum(v >= max(limit, band.get(k, 0.0)) for k, v in valid.items()) / len(valid)


def _distribution_drift(
    reference: DriftReference, features: pd.DataFrame, thresholds: DriftConfig
) -> _DistributionDrift:
    """KS and Wasserstein of the batch against the reference's sketches (NaN where there are none)."""
    names = list(reference.features)
    nan = float("nan")
    sketched = [n for n in names if n in reference.quantiles]
    reasons = {
        n: "reference has no quantile sketch for this feature"
        for n in names
        if n not in reference.quantiles
    }
    ks = dict.fromkeys(names, nan)
    pv = dict.fromkeys(names, nan)
    w = dict.fromkeys(names, nan)
    if sketched:
        ordered, groups = time_ordered(features)
        st = drift_statistics({n: reference.quantiles[n] for n in sketched}, ordered, groups=groups)
        ks.update({n: float(v) for n, v in st["ks"].items()})
        pv.update({n: float(v) for n, v in st["ks_pvalue"].items()})
        w.update({n: float(v) for n, v in st["wasserstein"].items()})
        reasons.update({n: str(r) for n, r in st["reason"].items() if r})
    return _DistributionDrift(
        ks=ks,
        ks_pvalue=pv,
        wasserstein=w,
        share_ks=_share_over(ks, thresholds.ks_critical, reference.normal_ks),
        share_wasserstein=_share_over(
            w, thresholds.wasserstein_critical, reference.normal_wasserstein
        ),
        reasons=reasons,
    )


def feature_limits(reference: DriftReference, thresholds: DriftConfig) -> dict[str, float]:
    """The PSI at or above which each feature counts as drifted: max(`psi_critical`, its normal band).

    The rule `drift_report` judges a day by, and the threshold the Evidently page is configured
    with per column, so both count the same features.
    """
    band = reference.normal_psi
    return {k: max(thresholds.psi_critical, band.get(k, 0.0)) for k in reference.features}


def drift_report(
    reference: DriftReference, features: pd.DataFrame, scores: np.ndarray, thresholds: DriftConfig
) -> DriftReport:
    """Compare one batch (e.g. a day) of features and scores with the reference.

    A feature counts as drifted when its PSI is above both the plant's threshold and its normal
    day-to-day band (see `build_reference`). critical: at least `critical_share` of features are
    over psi_critical. warning: at least `critical_share` of features are over psi_warning, any
    feature is over psi_critical, or the score PSI is >= prediction_psi_warning.
    """
    if len(features) == 0:
        raise ValueError("drift report on an empty batch: no feature rows for this day")
    fpsi = psi_frame(reference.features, features)
    valid = {k: v for k, v in fpsi.items() if not math.isnan(v)}
    n = max(len(valid), 1)
    band = reference.normal_psi

    def over(k: str, v: float, limit: float) -> bool:
        return v >= max(limit, band.get(k, 0.0))

    limits = feature_limits(reference, thresholds)
    crit = sorted((k for k, v in valid.items() if v >= limits[k]), key=lambda k: -valid[k])
    warn = [k for k, v in valid.items() if over(k, v, thresholds.psi_warning)]
    share_crit, share_warn = len(crit) / n, len(warn) / n
    ppsi = psi(reference.prediction, np.asarray(scores, dtype=float))
    reasons: list[str] = []
    severity: Severity = "ok"
    if share_crit >= thresholds.critical_share:
        severity = "critical"
        reasons.append(
            f"{len(crit)}/{n} features ({share_crit:.0%}) have PSI >= {thresholds.psi_critical} "
            f"(share threshold {thresholds.critical_share:.0%})"
        )
    if severity == "ok" and (share_warn >= thresholds.critical_share or crit):
        severity = "warning"
        reasons.append(
            f"{len(warn)}/{n} features with PSI >= {thresholds.psi_warning}; {len(crit)} >= {thresholds.psi_critical}"
        )
    # Score drift alone is a warning for a human: with few machines the day's score
    # distribution swings with how many machines happen to be near a failure.
    if not math.isnan(ppsi) and ppsi >= thresholds.prediction_psi_warning:
        if severity == "ok":
            severity = "warning"
        reasons.append(f"prediction PSI {ppsi:.2f} >= {thresholds.prediction_psi_warning}")
    if severity == "ok":
        reasons.append(
            f"max feature PSI {max(valid.values(), default=float('nan')):.3f}; prediction PSI {ppsi:.3f}"
        )
    # Reported alongside, never part of the severity above.
    dist = _distribution_drift(reference, features, thresholds)
    if not reference.quantiles:
        reasons.append(
            "KS and Wasserstein not computed: the model's reference has no quantile sketches "
            "(built before they existed; the next retrain adds them)"
        )
    return DriftReport(
        rows=len(features),
        feature_psi=fpsi,
        prediction_psi=ppsi,
        share_drifted=share_crit,
        severity=severity,
        drifted_features=crit,
        reasons=reasons,
        feature_ks=dist.ks,
        feature_ks_pvalue=dist.ks_pvalue,
        feature_wasserstein=dist.wasserstein,
        share_drifted_ks=dist.share_ks,
        share_drifted_wasserstein=dist.share_wasserstein,
        stat_reasons=dist.reasons,
    )

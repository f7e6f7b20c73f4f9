"""The daily drift report: feature and prediction drift against the model's training reference."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from factory_mlops.config import DriftConfig
from factory_mlops.monitoring._psi import BinnedReference, fit_reference, psi, psi_frame

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
    """

    features: dict[str, BinnedReference]
    prediction: BinnedReference
    feature_spec_hash: str
    rows: int
    normal_psi: dict[str, float] = field(default_factory=dict)
    score_column: str = "probability"

    def to_json(self) -> str:
        return json.dumps(
            {
                "feature_spec_hash": self.feature_spec_hash,
                "rows": self.rows,
                "features": {k: v.to_dict() for k, v in self.features.items()},
                "prediction": self.prediction.to_dict(),
                "normal_psi": self.normal_psi,
                "score_column": self.score_column,
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
) -> DriftReference:
    """Bin the reference features and scores, and learn each feature's normal day-to-day PSI.

    A plant has few machines, and a day's feature rows are strongly correlated (one machine's
    24 h mean barely moves within a day), so a normal day already scores a high PSI against the
    pooled reference. As NannyML does with data-driven thresholds, each feature's *normal* PSI
    is the mean + `band_sigmas` standard deviations of the PSI of each reference day against the
    reference; a day only counts as drifted on a feature when it exceeds both that band and the
    plant's `psi_critical`. `scores` are the model's scores, held in the prediction column
    `score_column` (`probability`, or `rul_hours` for a RUL model).
    """
    refs = {n: fit_reference(features[n].to_numpy(dtype=float), bins) for n in feature_names}
    normal: dict[str, float] = {}
    if "timestamp" in features.columns:
        days = features["timestamp"].dt.floor("D")
        chunks = [g for _, g in features.groupby(days) if len(g) >= 2]
        if len(chunks) >= 3:
            for n, ref in refs.items():
                vals = np.array([psi(ref, c[n].to_numpy(dtype=float)) for c in chunks])
                normal[n] = float(np.nanmean(vals) + band_sigmas * np.nanstd(vals))
    return DriftReference(
        features=refs,
        prediction=fit_reference(np.asarray(scores, dtype=float), bins),
        feature_spec_hash=spec_hash,
        rows=len(features),
        normal_psi=normal,
        score_column=score_column,
    )


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature and on the scores, with the severity the plant's thresholds give."""

    rows: int
    feature_psi: dict[str, float]
    prediction_psi: float
    share_drifted: float
    severity: Severity
    drifted_features: list[str]
    reasons: list[str] = field(default_factory=list)

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
        d = asdict(self)
        d["max_psi"] = self.max_psi
        d["drifted_sensors"] = self.drifted_sensors
        return d


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

    crit = sorted((k for k, v in valid.items() if over(k, v, thresholds.psi_critical)), key=lambda k: -valid[k])
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
        reasons.append(f"{len(warn)}/{n} features with PSI >= {thresholds.psi_warning}; {len(crit)} >= {thresholds.psi_critical}")
    # Score drift alone is a warning for a human: with few machines the day's score
    # distribution swings with how many machines happen to be near a failure.
    if not math.isnan(ppsi) and ppsi >= thresholds.prediction_psi_warning:
        if severity == "ok":
            severity = "warning"
        reasons.append(f"prediction PSI {ppsi:.2f} >= {thresholds.prediction_psi_warning}")
    if severity == "ok":
        reasons.append(f"max feature PSI {max(valid.values(), default=float('nan')):.3f}; prediction PSI {ppsi:.3f}")
    return DriftReport(
        rows=len(features),
        feature_psi=fpsi,
        prediction_psi=ppsi,
        share_drifted=share_crit,
        severity=severity,
        drifted_features=crit,
        reasons=reasons,
    )

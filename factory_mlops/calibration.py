"""Probability calibration maps, shared by training and the edge runtime (numpy only).

A classifier trained with class weights ranks rows well but its raw scores are not frequencies.
A monotone map fitted on out-of-fold predictions turns them into calibrated P(failure), which the
cost-based alarm threshold and the label-free performance estimate (monitoring) rely on. The map is
stored as plain numbers (registry artifact, bundle manifest), so the edge applies exactly the same
function without scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SIGMOID = "sigmoid"
ISOTONIC = "isotonic"
NONE = "none"
METHODS = (SIGMOID, ISOTONIC, NONE)
_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class Calibration:
    """A monotone map from raw model probabilities to calibrated ones.

    * `sigmoid` (Platt scaling on the logit): p' = 1 / (1 + exp(-(a * logit(p) + b))); strictly
      increasing for a > 0, so the ranking (PR-AUC, ROC-AUC) is unchanged.
    * `isotonic`: piecewise-linear interpolation through (`x`, `y`), clipped at both ends; more
      flexible, but flat steps tie scores.
    * `none`: the identity.
    """

    method: str = NONE
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = field(default_factory=tuple)
    y: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"calibration method {self.method!r} is not one of {METHODS}")
        if self.method == ISOTONIC and (len(self.x) != len(self.y) or len(self.x) < 1):
            raise ValueError(
                f"isotonic calibration needs x and y of one length >= 1, got {len(self.x)}, {len(self.y)}"
            )

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw probabilities `proba` (float64, same shape)."""
        p = np.asarray(proba, dtype=np.float64)
        if self.method == SIGMOID:
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))
        if self.method == ISOTONIC:
            return np.interp(p, np.asarray(self.x), np.asarray(self.y))
        return p.copy()

    def to_dict(self) -> dict[str, Any]:
        if self.method == SIGMOID:
            return {"method": SIGMOID, "a": self.a, "b": self.b}
        if self.method == ISOTONIC:
            return {"method": ISOTONIC, "x": list(self.x), "y": list(self.y)}
        return {"method": NONE}

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> Calibration:
        """The map stored by `to_dict` (None or `{}` = the identity, for models registered before calibration)."""
        if not doc:
            return cls()
        method = doc.get("method", NONE)
        if method == SIGMOID:
            return cls(SIGMOID, a=float(doc["a"]), b=float(doc["b"]))
        if method == ISOTONIC:
            return cls(ISOTONIC, x=tuple(map(float, doc["x"])), y=tuple(map(float, doc["y"])))
        return cls(method)


def fit_calibration(
    proba: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, method: str = SIGMOID
) -> Calibration:
    """Fit a calibration map on out-of-fold raw probabilities `proba` and 0/1 outcomes `y`.

    Raises:
        ValueError: unknown method, mismatched lengths, or outcomes of a single class.
    """
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not one of {METHODS}")
    p = np.asarray(proba, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (len(p) == len(t) == len(w)):
        raise ValueError(
            f"calibration needs equal lengths, got {len(p)} probabilities, {len(t)} outcomes, {len(w)} weights"
        )
    if method == NONE:
        return Calibration()
    if len(np.unique(t)) < 2:
        raise ValueError(
            "calibration needs both failure and normal rows among the out-of-fold predictions"
        )
    if method == ISOTONIC:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            p, t, sample_weight=w
        )
        return Calibration(
            ISOTONIC, x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_))
        )
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(
        _logit(p).reshape(-1, 1), t.astype(int), sample_weight=w
    )
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if a <= 0:
        raise ValueError(
            f"sigmoid calibration came out decreasing (slope {a:.3g}): the model's out-of-fold scores do not rank "
            "failures above normal rows; check the labels or use calibration: none"
        )
    return Calibration(SIGMOID, a=a, b=b)

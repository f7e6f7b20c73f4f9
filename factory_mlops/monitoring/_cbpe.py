"""Label-free performance estimate from calibrated probabilities (in the spirit of NannyML's CBPE).

Ground truth for a day's predictions arrives days later (the failure horizon plus the maintenance
log's latency). Confidence-based performance estimation (CBPE) does not wait: if the deployed
model's probabilities are *calibrated*, a row scored p is a failure with probability p, so the
confusion matrix of the day's alarm decisions has the expected cells

    TP = Σ p·a,   FP = Σ (1 − p)·a,   FN = Σ p·(1 − a),   TN = Σ (1 − p)·(1 − a)

(a = 1 for an alarm row), and precision, recall, accuracy follow from them. Each realised outcome
is an independent Bernoulli(p) draw under the same assumption, which gives the spread of the
realised metric around its estimate: the interval says where the realised value will fall (with
probability `level`) once the labels arrive, if calibration holds.

The assumption, and its limit
-----------------------------
CBPE holds under *covariate shift*: the inputs move (a new resin, a hotter summer) but
P(failure | inputs) is unchanged, so the calibrated probabilities stay calibrated and the estimate
tracks the realised metrics even though the score distribution moved. It fails under *concept
shift*: when the relation between inputs and failures changes (wear shows up in another sensor),
the model is confidently wrong and its own probabilities cannot tell; the estimate keeps saying
"fine" while realised recall falls. That is why the realised outcomes, once they arrive, are
watched by control charts (`factory_mlops.monitoring._control`) and the estimate is compared with
them (`compare_with_realised`). The estimate also inherits any miscalibration of the model on
its holdout; `estimate_severity` therefore compares a day's estimate with the *estimate* on the
model's holdout (same bias on both sides), not with the holdout's realised recall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd

from factory_mlops.monitoring._drift import Severity

Method = Literal["analytic", "bootstrap"]
METRICS = ("precision", "recall", "accuracy")
# Parametric bootstrap: draws per chunk are limited to about this many Bernoulli variates.
_CHUNK_CELLS = 4_000_000


def _num(x: float) -> float | None:
    """A float for JSON: NaN/inf become None."""
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class PerformanceEstimate:
    """Expected confusion matrix and metrics of a set of alarm decisions, without labels.

    Attributes:
        n: Rows estimated.
        alarms: Alarm rows.
        tp, fp, fn, tn: Expected cells of the confusion matrix (sums of probabilities).
        precision: E[TP] / alarms (NaN without alarms).
        recall: E[TP] / E[failures] (NaN when no failure is expected, Σp = 0).
        accuracy: (E[TP] + E[TN]) / n (NaN for n = 0).
        alarm_rate: alarms / n.
        expected_failures: Σ p, the expected number of failure rows.
        se: Metric -> standard deviation of the *realised* metric around the estimate.
        interval: Metric -> (low, high) holding the realised metric with probability `level`.
        level: Nominal coverage of the intervals.
        method: `analytic` (Poisson-binomial variance, normal interval, delta method for ratios)
            or `bootstrap` (seeded parametric bootstrap: outcomes redrawn as Bernoulli(p)).
        notes: Why a metric is NaN, and other caveats, in words.
    """

    n: int
    alarms: int
    tp: float
    fp: float
    fn: float
    tn: float
    precision: float
    recall: float
    accuracy: float
    alarm_rate: float
    expected_failures: float
    se: dict[str, float]
    interval: dict[str, tuple[float, float]]
    level: float
    method: Method
    notes: list[str] = field(default_factory=list)

    def metric(self, name: str) -> float:
        """The estimate of `precision`, `recall` or `accuracy`."""
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; NaN values are None (the notes say why)."""
        return {
            "n": int(self.n),
            "alarms": int(self.alarms),
            "expected": {
                "tp": _num(self.tp),
                "fp": _num(self.fp),
                "fn": _num(self.fn),
                "tn": _num(self.tn),
            },
            "precision": _num(self.precision),
            "recall": _num(self.recall),
            "accuracy": _num(self.accuracy),
            "alarm_rate": _num(self.alarm_rate),
            "expected_failures": _num(self.expected_failures),
            "expected_failure_rate": _num(self.expected_failures / self.n) if self.n else None,
            "se": {k: _num(v) for k, v in self.se.items()},
            "interval": {k: [_num(lo), _num(hi)] for k, (lo, hi) in self.interval.items()},
            # flat copies of the interval ends, for metadata and tables
            **{f"{k}_low": _num(lo) for k, (lo, _) in self.interval.items()},
            **{f"{k}_high": _num(hi) for k, (_, hi) in self.interval.items()},
            "level": float(self.level),
            "method": self.method,
            "notes": list(self.notes),
        }


def _inputs(probabilities: Any, alarms: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    a_raw = np.asarray(alarms).ravel()
    if len(p) != len(a_raw):
        raise ValueError(
            f"probabilities ({len(p)}) and alarms ({len(a_raw)}) must have the same length"
        )
    bad = ~np.isfinite(p)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} of {len(p)} probabilities are NaN or infinite (e.g. rows a RUL model "
            f"scored); estimate only rows with a calibrated probability"
        )
    if len(p) and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"probabilities must lie in [0, 1], got min {p.min():g}, max {p.max():g}")
    if a_raw.dtype == bool:
        a = a_raw
    else:
        a_num = np.asarray(a_raw, dtype=np.float64)
        if not np.isin(a_num, (0.0, 1.0)).all():
            raise ValueError("alarms must be booleans or 0/1; got other values")
        a = a_num == 1.0
    return p, a


def _ratio_se(num_mean: float, den_mean: float, var_in: float, var_out: float) -> float:
    """Delta-method SD of R = A / B where A = Σ_alarm y and B = Σ y (y ~ Bernoulli(p)).

    With v = p(1 − p): Var A = Σ_alarm v, Var B = Σ v, Cov(A, B) = Σ_alarm v, so
    Var R ≈ ((1 − R)² Σ_alarm v + R² Σ_no-alarm v) / E[B]².
    """
    if den_mean <= 0:
        return math.nan
    r = num_mean / den_mean
    return math.sqrt((1 - r) ** 2 * var_in + r**2 * var_out) / den_mean


def _bootstrap(p: np.ndarray, a: np.ndarray, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Realised precision/recall/accuracy of `n_boot` outcome vectors drawn as Bernoulli(p)."""
    rng = np.random.default_rng(seed)
    n = len(p)
    tp = np.empty(n_boot)
    pos = np.empty(n_boot)
    tn = np.empty(n_boot)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    n_alarm = float(a.sum())
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        y = rng.random((stop - start, n)) < p  # (draws, rows)
        tp[start:stop] = y[:, a].sum(axis=1)
        pos[start:stop] = y.sum(axis=1)
        tn[start:stop] = (~y[:, ~a]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": tp / n_alarm if n_alarm else np.full(n_boot, np.nan),
            "recall": np.where(pos > 0, tp / np.where(pos > 0, pos, 1), np.nan),
            "accuracy": (tp + tn) / n,
        }


def estimate_performance(
    probabilities: Any,
    alarms: Any,
    *,
    level: float = 0.9,
    method: Method = "analytic",
    n_boot: int = 2000,
    seed: int = 0,
) -> PerformanceEstimate:
    """Estimate precision, recall and accuracy of alarm decisions from calibrated probabilities.

    Args:
        probabilities: Calibrated P(failure within the horizon) per row (the prediction log's
            `probability`), in [0, 1].
        alarms: The alarm decision per row (bool or 0/1).
        level: Nominal coverage of the intervals (0 < level < 1).
        method: `analytic` (default; exact Poisson-binomial variance for accuracy, delta method
            for the ratios, normal intervals clipped to [0, 1]) or `bootstrap` (seeded parametric
            bootstrap, percentile intervals; better with few expected failures, where the
            realised recall is a ratio of small counts).
        n_boot: Bootstrap draws (method `bootstrap`).
        seed: Bootstrap seed: the same inputs give the same interval.

    Returns:
        A `PerformanceEstimate`. Metrics that are undefined (recall when no failure is expected,
        precision without alarms, everything for zero rows) are NaN and `notes` says why.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.9), got {level!r}")
    if method not in ("analytic", "bootstrap"):
        raise ValueError(f"method must be 'analytic' or 'bootstrap', got {method!r}")
    if method == "bootstrap" and n_boot < 100:
        raise ValueError(f"n_boot must be at least 100 for a percentile interval, got {n_boot}")
    p, a = _inputs(probabilities, alarms)
    n = len(p)
    notes: list[str] = []
    tp = float(p[a].sum())
    fp = float((1 - p[a]).sum())
    fn = float(p[~a].sum())
    tn = float((1 - p[~a]).sum())
    n_alarm = int(a.sum())
    expected = tp + fn
    nan = math.nan
    if n == 0:
        notes.append("no predictions to estimate")
    if n and not n_alarm:
        notes.append("precision undefined: no alarms")
    if n and expected <= 0:
        notes.append("recall undefined: no failure is expected (every probability is 0)")
    precision = tp / n_alarm if n_alarm else nan
    recall = tp / expected if expected > 0 else nan
    accuracy = (tp + tn) / n if n else nan
    alarm_rate = n_alarm / n if n else nan

    v = p * (1 - p)
    se: dict[str, float] = {
        "precision": math.sqrt(float(v[a].sum())) / n_alarm if n_alarm else nan,
        "recall": _ratio_se(tp, expected, float(v[a].sum()), float(v[~a].sum())),
        "accuracy": math.sqrt(float(v.sum())) / n if n else nan,
    }
    estimates = {"precision": precision, "recall": recall, "accuracy": accuracy}
    interval: dict[str, tuple[float, float]] = {}
    if method == "analytic" or n == 0:
        z = NormalDist().inv_cdf(0.5 + level / 2)
        for name, est in estimates.items():
            s = se[name]
            interval[name] = (
                (max(0.0, est - z * s), min(1.0, est + z * s))
                if math.isfinite(est + s)
                else (nan, nan)
            )
    else:
        draws = _bootstrap(p, a, n_boot, seed)
        q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
        for name, d in draws.items():
            finite = d[np.isfinite(d)]
            if len(finite) < 0.5 * n_boot or not math.isfinite(estimates[name]):
                interval[name] = (nan, nan)
                se[name] = nan if not math.isfinite(estimates[name]) else se[name]
                continue
            lo, hi = np.percentile(finite, q)
            interval[name] = (float(lo), float(hi))
            se[name] = float(finite.std(ddof=1))
        if expected > 0 and expected < 5:
            notes.append(
                f"only {expected:.1f} failures expected: the realised recall is a ratio of small "
                f"counts and swings widely"
            )
    return PerformanceEstimate(
        n=n,
        alarms=n_alarm,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=precision,
        recall=recall,
        accuracy=accuracy,
        alarm_rate=alarm_rate,
        expected_failures=expected,
        se=se,
        interval=interval,
        level=float(level),
        method=method,
        notes=notes,
    )


def estimate_from_predictions(predictions: pd.DataFrame, **kwargs: Any) -> PerformanceEstimate:
    """`estimate_performance` on a prediction frame's `probability` and `alarm` columns."""
    missing = [c for c in ("probability", "alarm") if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"predictions lack columns {missing}; CBPE needs the calibrated `probability` and the "
            f"`alarm` of a classification model"
        )
    return estimate_performance(
        predictions["probability"].to_numpy(), predictions["alarm"].to_numpy(), **kwargs
    )


def realised_metrics(alarms: Any, outcomes: Any) -> dict[str, float]:
    """Realised precision, recall, accuracy, alarm rate and failures of labelled rows.

    Rows whose outcome is NaN (not known yet) are left out; `rows` counts the ones used.
    """
    y = np.asarray(outcomes, dtype=np.float64).ravel()
    a = np.asarray(alarms).ravel().astype(bool)
    if len(y) != len(a):
        raise ValueError(f"alarms ({len(a)}) and outcomes ({len(y)}) must have the same length")
    known = ~np.isnan(y)
    y, a = y[known] == 1.0, a[known]
    n, n_alarm, pos = len(y), int(a.sum()), int(y.sum())
    tp = int((y & a).sum())
    tn = int((~y & ~a).sum())
    return {
        "rows": float(n),
        "failures": float(pos),
        "precision": tp / n_alarm if n_alarm else math.nan,
        "recall": tp / pos if pos else math.nan,
        "accuracy": (tp + tn) / n if n else math.nan,
        "alarm_rate": n_alarm / n if n else math.nan,
    }


def compare_with_realised(estimate: PerformanceEstimate, outcomes: pd.DataFrame) -> dict[str, Any]:
    """How the estimate did, once the labels arrived.

    Args:
        estimate: The estimate made on the same predictions before their labels were known.
        outcomes: Those predictions with `alarm` and `outcome` (from `label_outcomes`); rows
            whose outcome is still NaN are left out.

    Returns:
        `{"rows_estimated", "rows_known", "notes", "metrics": {metric: {"estimated", "realised",
        "abs_error", "interval", "inside"}}}` for precision, recall and accuracy (plus alarm rate
        and failures without interval). `inside` is None when either side is undefined. The
        comparison is only fair on the same rows: a note says when not every estimated row has
        a known outcome yet.
    """
    missing = [c for c in ("alarm", "outcome") if c not in outcomes.columns]
    if missing:
        raise ValueError(
            f"outcomes lack columns {missing}; label the predictions with label_outcomes first"
        )
    real = realised_metrics(outcomes["alarm"].to_numpy(), outcomes["outcome"].to_numpy())
    notes: list[str] = []
    rows_known = int(real["rows"])
    if rows_known != estimate.n:
        notes.append(
            f"{rows_known} labelled rows vs {estimate.n} estimated: the realised metrics cover other "
            f"rows than the estimate (outcomes not known yet, or another selection)"
        )
    metrics: dict[str, dict[str, Any]] = {}
    for name in METRICS:
        est, got = estimate.metric(name), real[name]
        lo, hi = estimate.interval.get(name, (math.nan, math.nan))
        defined = math.isfinite(est) and math.isfinite(got)
        metrics[name] = {
            "estimated": _num(est),
            "realised": _num(got),
            "abs_error": _num(abs(est - got)) if defined else None,
            "interval": [_num(lo), _num(hi)],
            "inside": bool(lo <= got <= hi) if defined and math.isfinite(lo + hi) else None,
        }
    metrics["alarm_rate"] = {
        "estimated": _num(estimate.alarm_rate),
        "realised": _num(real["alarm_rate"]),
        "abs_error": _num(abs(estimate.alarm_rate - real["alarm_rate"])),
    }
    metrics["failures"] = {
        "estimated": _num(estimate.expected_failures),
        "realised": _num(real["failures"]),
        "abs_error": _num(abs(estimate.expected_failures - real["failures"])),
    }
    return {
        "rows_estimated": int(estimate.n),
        "rows_known": rows_known,
        "notes": notes,
        "metrics": metrics,
    }


def estimate_severity(
    estimate: PerformanceEstimate,
    reference: PerformanceEstimate,
    drop_warning: float = 0.1,
    drop_critical: float = 0.25,
) -> tuple[Severity, list[str]]:
    """Grade the estimated recall against the reference estimate (the model's own holdout).

    The relative drop `(reference.recall − estimate.recall) / reference.recall` is critical at
    `drop_critical` or more, a warning at `drop_warning` or more, ok otherwise. Both sides are
    CBPE estimates, so a calibration bias of the model cancels out. When either recall is
    undefined (no failure expected) the day is `ok` and the reason says it was not judged: a day
    without expected failures is no evidence of a drop.

    Returns:
        (severity, reasons in words with the values and limits).
    """
    if not 0 < drop_warning < drop_critical < 1:
        raise ValueError(
            f"need 0 < drop_warning < drop_critical < 1, got drop_warning={drop_warning!r}, "
            f"drop_critical={drop_critical!r}"
        )
    ref, est = reference.recall, estimate.recall
    if not math.isfinite(ref) or ref <= 0:
        return "ok", [
            f"estimated recall not judged: the reference recall is {ref:.3g} (no failures expected on the holdout?)"
        ]
    if not math.isfinite(est):
        return "ok", [f"estimated recall not judged: {'; '.join(estimate.notes) or 'undefined'}"]
    drop = (ref - est) / ref
    lo, hi = estimate.interval.get("recall", (math.nan, math.nan))
    detail = (
        f"estimated recall {est:.3f} (realised expected within [{lo:.3f}, {hi:.3f}] at {estimate.level:.0%}) "
        f"vs {ref:.3f} on the holdout: {drop:+.1%} relative drop"
    )
    if drop >= drop_critical:
        return "critical", [f"{detail}, at or above the critical limit {drop_critical:.0%}"]
    if drop >= drop_warning:
        return "warning", [f"{detail}, at or above the warning limit {drop_warning:.0%}"]
    return "ok", [f"{detail}, below the warning limit {drop_warning:.0%}"]

"""Row-level quality scores on plain arrays: calibration of probabilities and the PHM08 RUL score.

Kept apart from the holdout logic (`_metrics`) so the bench and the monitoring code can reuse them
on any pair of arrays.
"""

from __future__ import annotations

import numpy as np


def calibration_metrics(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Brier score, expected calibration error and mean predicted probability of 0/1 targets `y`.

    The alarm threshold is chosen on costs, and the label-free monitoring estimate reads
    P(failure) at face value: both need calibrated probabilities, not only a good ranking.
    `mean_predicted` should be close to the share of positive rows (`positive_rate`).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p, bins),
        "mean_predicted": float(np.mean(p)),
    }


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean probability - share of positives| per equal-width bin of
    [0, 1], averaged with the bins' row counts as weights (empty bins weigh nothing).

    Bin i holds probabilities in [i/bins, (i+1)/bins); a probability of exactly 1 goes into the
    last bin. 0 = perfectly calibrated; the largest possible value is 1.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    idx = np.clip(np.floor(p * bins).astype(np.int64), 0, bins - 1)
    n = np.bincount(idx, minlength=bins).astype(np.float64)
    gap = np.abs(
        np.bincount(idx, weights=p, minlength=bins) - np.bincount(idx, weights=y, minlength=bins)
    )
    # sum over bins of n_b/N * |sum_b(p)/n_b - sum_b(y)/n_b| = sum_b |sum_b(p) - sum_b(y)| / N
    return float(gap[n > 0].sum() / n.sum())


def nasa_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 scoring function (Saxena et al. 2008) of predicted against true remaining useful life.

    With d = pred - true, each row adds exp(-d/13) - 1 when d < 0 (early: maintenance too soon)
    and exp(d/10) - 1 otherwise (late: the machine fails before the predicted time), so late
    predictions are punished harder. The constants 13 and 10 were set for C-MAPSS engine cycles;
    here the unit is whatever `pred` and `true` are in (hours in `evaluate_rul`), so the score is
    only comparable between models evaluated in the same unit. Overflows to inf for absurd errors.
    """
    d = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    with np.errstate(over="ignore"):
        return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))

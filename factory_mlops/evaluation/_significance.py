"""Is a challenger's gain on the holdout real? A paired block bootstrap of the primary metric.

A holdout of a few days holds a handful of failures: a PR-AUC gain of a few hundredths (or an RMSE
drop of a few per cent) between two models is then as often noise as signal, and a gate on the
point estimate promotes models that are worse on the days that follow. `gain_bound` resamples the
holdout by machine-day blocks (the rows of one machine on one day stay together, so the serial
correlation of hourly rows and of the rows before one failure is kept), scores champion and
challenger on the same resample, and reports the one-sided lower bound of the gain at the given
confidence (percentile bootstrap; Efron & Tibshirani 1993, ch. 13; blocks as in Künsch 1989).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from factory_mlops.config import ModelConfig

#: How the gain is measured per task: PR-AUC difference, or RMSE drop relative to the champion.
GAIN_METRIC = {"classification": "pr_auc", "rul": "rmse"}


@dataclass(frozen=True)
class GainBound:
    """The challenger's gain over the champion on one holdout, with its bootstrap lower bound.

    `gain` is the point estimate (classification: PR-AUC challenger - champion; RUL: relative RMSE
    drop, (champion - challenger) / champion). `lower` is the one-sided lower bound at
    `confidence`; None when fewer than `min_events` blocks carry a failure (`events`), so the
    resamples could not tell. `resamples` counts the resamples with a defined gain.
    """

    metric: str
    gain: float
    lower: float | None
    confidence: float
    blocks: int
    events: int
    resamples: int
    min_events: int

    @property
    def judged(self) -> bool:
        """Whether the holdout held enough failure-bearing blocks to bound the gain."""
        return self.lower is not None


def _blocks(rows: pd.DataFrame) -> np.ndarray:
    """A block id per row: its machine and its UTC day."""
    day = pd.to_datetime(rows["timestamp"], utc=True).dt.floor("D").astype("int64")
    key = rows["machine_id"].astype(str) + "|" + day.astype(str)
    return pd.factorize(key)[0]


def _gain(task: str, y: np.ndarray, challenger: np.ndarray, champion: np.ndarray) -> float:
    if task == "rul":
        k = math.sqrt(float(np.mean((champion - y) ** 2)))
        c = math.sqrt(float(np.mean((challenger - y) ** 2)))
        return math.nan if k <= 0 else (k - c) / k
    if not y.any() or y.all():
        return math.nan
    return float(average_precision_score(y, challenger) - average_precision_score(y, champion))


def gain_bound(
    rows: pd.DataFrame,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray,
    *,
    task: str,
    horizon_hours: float,
    confidence: float = 0.9,
    resamples: int = 200,
    min_events: int = 2,
    seed: int = 0,
) -> GainBound:
    """Paired block bootstrap of the challenger's primary-metric gain on the same holdout `rows`.

    Args:
        rows: holdout rows with `machine_id`, `timestamp` and `label` (classification: 0/1
            failure within the horizon; RUL: capped remaining life in hours).
        challenger_scores: the challenger's P(failure) (classification) or predicted RUL hours,
            aligned with `rows` by position.
        champion_scores: the champion's, on the same rows.
        task: "classification" or "rul".
        horizon_hours: the label horizon (RUL: a block carries a failure when a label is within it).
        confidence: one-sided confidence of the lower bound (0.9: 10 % of resamples below it).
        resamples: bootstrap resamples.
        min_events: fewer failure-bearing blocks than this: the gain is not bounded (`lower` None).
        seed: the resampling seed (the bound is reproducible).

    Returns:
        The point gain, its lower bound and the evidence it rests on.

    Raises:
        ValueError: on an unknown task, misaligned scores, or no rows.
    """
    if task not in GAIN_METRIC:
        raise ValueError(f"task {task!r}: expected one of {sorted(GAIN_METRIC)}")
    c = np.asarray(challenger_scores, dtype=np.float64)
    k = np.asarray(champion_scores, dtype=np.float64)
    if len(rows) == 0:
        raise ValueError("cannot bound a gain on zero holdout rows")
    if len(c) != len(rows) or len(k) != len(rows):
        raise ValueError(
            f"{len(c)} challenger and {len(k)} champion scores for {len(rows)} holdout rows"
        )
    label = rows["label"].to_numpy(dtype=np.float64)
    y = label if task == "rul" else label.astype(int)
    # Classification ranks by P(failure); RUL's primary metric is the RMSE of the hours themselves.
    event = (label <= horizon_hours) if task == "rul" else (y == 1)
    block = _blocks(rows)
    n_blocks = int(block.max()) + 1
    events = len(np.unique(block[event]))
    point = _gain(task, y, c, k)
    if events < min_events or math.isnan(point):
        return GainBound(
            GAIN_METRIC[task], point, None, confidence, n_blocks, events, 0, min_events
        )
    order = np.argsort(block, kind="stable")
    bounds = np.searchsorted(block[order], np.arange(n_blocks + 1))
    members = [order[bounds[b] : bounds[b + 1]] for b in range(n_blocks)]
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(resamples):
        pick = rng.integers(0, n_blocks, n_blocks)
        idx = np.concatenate([members[b] for b in pick])
        g = _gain(task, y[idx], c[idx], k[idx])
        if not math.isnan(g):
            gains.append(g)
    if not gains:
        return GainBound(
            GAIN_METRIC[task], point, None, confidence, n_blocks, events, 0, min_events
        )
    lower = float(np.quantile(np.asarray(gains), 1.0 - confidence))
    return GainBound(
        GAIN_METRIC[task], point, lower, confidence, n_blocks, events, len(gains), min_events
    )


def gate_gain(
    model: ModelConfig,
    rows: pd.DataFrame,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray,
) -> GainBound | None:
    """`gain_bound` with the plant's gate settings (`model.gate_*`); None when switched off."""
    if model.gate_confidence is None:
        return None
    return gain_bound(
        rows,
        challenger_scores,
        champion_scores,
        task=model.task,
        horizon_hours=model.horizon_hours,
        confidence=model.gate_confidence,
        resamples=model.gate_resamples,
        min_events=model.gate_min_failure_days,
        seed=model.seed,
    )

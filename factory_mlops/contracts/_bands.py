"""Statistical bands of a batch: per-batch statistics, bands stated in plant.yaml or learned from
earlier passed batches, and the `band:*` rules that flag a batch leaving its band for a human.

    >>> stats = batch_stats(result, config)          # store with the passed batch
    >>> validate_readings(raw, config, history=[...stats of passed batches, last history_days...])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.contracts._result import ContractFailure, ContractResult
from factory_mlops.contracts._schema import LABEL
from factory_mlops.errors import ContractError

# Label rates are learned on the log-odds scale, clipped to [_RATE_EPS, 1 - _RATE_EPS].
_RATE_EPS = 1e-4
_MIN_HALF_WIDTH = 1e-9
_MIN_RELATIVE_HALF_WIDTH = 0.01


@dataclass(frozen=True)
class Band:
    """The range a per-batch statistic is expected in.

    Attributes:
        low: Lowest acceptable value (inclusive).
        high: Highest acceptable value (inclusive).
        source: `"stated"` (plant.yaml `contract.bands`) or `"learned"` (from history).
        n_history: Past batches a learned band is based on (0 for a stated band).
    """

    low: float
    high: float
    source: Literal["stated", "learned"]
    n_history: int = 0

    def contains(self, value: float) -> bool:
        """True when `low <= value <= high`."""
        return self.low <= value <= self.high

    def origin(self, key: str) -> str:
        """Where the band comes from, for messages; `key` is its plant.yaml key."""
        if self.source == "stated":
            return f"stated in {key}"
        return f"learned from {self.n_history} past batches"


@dataclass(frozen=True)
class Bands:
    """The bands that apply to a batch; a statistic without a band is not checked.

    Attributes:
        sensor_mean: Sensor -> band of the batch mean.
        sensor_std: Sensor -> band of the batch standard deviation.
        label_rate: Band of the share of label == 1 among labelled rows, or None.
    """

    sensor_mean: dict[str, Band] = field(default_factory=dict)
    sensor_std: dict[str, Band] = field(default_factory=dict)
    label_rate: Band | None = None


def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def batch_stats(result: ContractResult, config: PlantConfig) -> dict[str, Any]:
    """Per-batch statistics of the accepted rows, the unit of `history` for learned bands.

    Args:
        result: A validated batch (normally one that passed).
        config: The plant whose sensors are summarised.

    Returns:
        A JSON-serialisable dict: `rows` (accepted rows), `sensor_mean` and `sensor_std`
        (sensor -> mean / sample SD of its non-null accepted values, or None without values, or
        for the SD with fewer than two) and `label_rate` (share of label == 1 among the accepted
        rows with a label, or None when the batch has no label column or no labelled row).
    """
    return accepted_stats(result.accepted, config)


def accepted_stats(accepted: pd.DataFrame, config: PlantConfig) -> dict[str, Any]:
    """`batch_stats` of an accepted frame (see there)."""
    means: dict[str, float | None] = {}
    stds: dict[str, float | None] = {}
    for name in config.sensor_names:
        col = accepted[name] if name in accepted.columns else pd.Series([], dtype="float64")
        means[name] = _finite(col.mean()) if len(col) else None
        stds[name] = _finite(col.std()) if len(col) else None
    label_rate: float | None = None
    if LABEL in accepted.columns:
        labels = accepted[LABEL].to_numpy(dtype=np.float64)
        labels = labels[~np.isnan(labels)]
        if len(labels):
            label_rate = float((labels == 1.0).mean())
    return {
        "rows": len(accepted),
        "sensor_mean": means,
        "sensor_std": stds,
        "label_rate": label_rate,
    }


def _history_values(
    history: Sequence[Mapping[str, Any]], key: str, name: str | None
) -> list[float]:
    out = []
    for entry in history:
        value = entry.get(key)
        if name is not None:
            value = value.get(name) if isinstance(value, Mapping) else None
        x = _finite(value)
        if x is not None:
            out.append(x)
    return out


def _learned(values: list[float], sigmas: float) -> tuple[float, float]:
    mean = float(np.mean(values))
    half = max(
        sigmas * float(np.std(values, ddof=1)),
        _MIN_HALF_WIDTH + _MIN_RELATIVE_HALF_WIDTH * abs(mean),
    )
    return mean - half, mean + half


def _learned_rate(values: list[float], sigmas: float) -> tuple[float, float]:
    p = np.clip(np.asarray(values, dtype=np.float64), _RATE_EPS, 1.0 - _RATE_EPS)
    logit = np.log(p / (1.0 - p))
    centre, sd = float(logit.mean()), float(logit.std(ddof=1))
    low, high = (1.0 / (1.0 + math.exp(-(centre + s * sigmas * sd))) for s in (-1, 1))
    mean = float(np.mean(values))
    half = _MIN_HALF_WIDTH + _MIN_RELATIVE_HALF_WIDTH * abs(mean)
    return min(low, mean - half), max(high, mean + half)


def learn_bands(history: Sequence[Mapping[str, Any]] | None, config: PlantConfig) -> Bands:
    """The bands of the next batch: stated ones from `contract.bands`, the others learned.

    A band stated in `contract.bands.sensor_mean` / `sensor_std` / `label_rate` wins. Otherwise a
    band is learned from `history` when at least `bands.min_history` of its entries have the
    statistic: mean ± `bands.sigmas` × sample SD of the
    past per-batch values, at least ±(1e-9 + 1 % of |mean|) wide. The label rate is learned on
    the log-odds scale (rates clipped to [1e-4, 1 - 1e-4]) and mapped back, so a band stays
    inside [0, 1] and a rate collapsing towards 0 (0.2 % after 2–8 %) leaves it, which a
    symmetric band on the raw rate would never notice.

    Args:
        history: `batch_stats` of earlier passed batches; None or [] = none. The caller picks
            the window: the passed batches of the last `bands.history_days` days (the stats
            carry no dates, and a plant may deliver several files a day).
        config: The plant (`contract.bands`).

    Returns:
        The `Bands` that apply.

    Raises:
        ContractError: If an entry of `history` is not a mapping.
    """
    b = config.contract.bands
    entries = list(history or [])
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ContractError(
                f"history[{i}] is a {type(entry).__name__}, expected a dict from batch_stats()"
            )

    def one(stated: tuple[float, float] | None, values: list[float], rate: bool) -> Band | None:
        if stated is not None:
            return Band(float(stated[0]), float(stated[1]), "stated")
        if len(values) < b.min_history:
            return None
        low, high = (_learned_rate if rate else _learned)(values, b.sigmas)
        return Band(low, high, "learned", len(values))

    mean_bands: dict[str, Band] = {}
    std_bands: dict[str, Band] = {}
    for name in config.sensor_names:
        band = one(b.sensor_mean.get(name), _history_values(entries, "sensor_mean", name), False)
        if band is not None:
            mean_bands[name] = band
        band = one(b.sensor_std.get(name), _history_values(entries, "sensor_std", name), False)
        if band is not None:
            std_bands[name] = band
    label_band = one(b.label_rate, _history_values(entries, "label_rate", None), True)
    return Bands(mean_bands, std_bands, label_band)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def band_rules(stats: Mapping[str, Any], bands: Bands) -> list[ContractFailure]:
    """`band:<sensor>:mean`, `band:<sensor>:std`, `band:label_rate`: the batch's statistic lies
    outside its band. Statistics that are None (no values) are not checked."""
    out: list[ContractFailure] = []
    checks: list[tuple[str, str, float | None, Band | None, str, bool]] = []
    for name, band in bands.sensor_mean.items():
        checks.append(
            (f"band:{name}:mean", f"batch mean of {name}", stats["sensor_mean"].get(name), band,
             f"contract.bands.sensor_mean.{name}", False)
        )  # fmt: skip
    for name, band in bands.sensor_std.items():
        checks.append(
            (f"band:{name}:std", f"batch SD of {name}", stats["sensor_std"].get(name), band,
             f"contract.bands.sensor_std.{name}", False)
        )  # fmt: skip
    checks.append(
        ("band:label_rate", "batch label rate", stats.get("label_rate"), bands.label_rate,
         "contract.bands.label_rate", True)
    )  # fmt: skip
    for rule, what, value, checked, key, rate in checks:
        if checked is None or value is None or checked.contains(value):
            continue
        show = _pct if rate else _fmt
        out.append(
            ContractFailure(
                rule=rule,
                severity="warning",
                message=(
                    f"{what} {show(value)} is outside its band [{show(checked.low)}, "
                    f"{show(checked.high)}] ({checked.origin(key)}); check for a process change or a "
                    f"sensor fault — a human should look. If the change is intended, state the "
                    f"band in plant.yaml {key}"
                ),
                value=float(value),
                threshold=float(checked.low if value < checked.low else checked.high),
            )
        )
    return out

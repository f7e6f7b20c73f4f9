"""plant.yaml `contract:`: the data contract's rules and thresholds."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from factory_mlops.config._base import RuleSeverity, _Strict

# Batch-level rules whose severity plant.yaml may override (per sensor where marked True).
SEVERITY_RULES: dict[str, bool] = {
    "unexpected_columns": False,
    "null_rate": True,
    "quarantine_rate": False,
    "min_rows": False,
    "non_monotonic_timestamps": False,
    "cadence": True,
    "gap": False,
    "latency": False,
    "out_of_range_persistent": True,
    "stuck": True,
    "spike": True,
    "unit_suspect": True,
    "foreign_batch": False,
    "band": True,
    "duplicate_of_other_file": False,
    "label_conflict": False,
}


def _known_rule(key: str, sensors: list[str]) -> bool:
    prefix, _, rest = key.partition(":")
    if prefix not in SEVERITY_RULES:
        return False
    if not rest:
        return True
    if not SEVERITY_RULES[prefix]:
        return False
    if prefix == "band":
        return rest == "label_rate" or rest.rsplit(":", 1)[0] in sensors
    return rest in sensors


class BandsConfig(_Strict):
    """Statistical bands of a batch: a batch whose sensor mean/std or label rate leaves its band is
    flagged for a human. Bands stated here win; otherwise they are learned from the last
    `history_days` passed batches (mean ± `sigmas` × SD of the per-batch values)."""

    history_days: int = Field(14, ge=1, description="Passed days the learned bands look back on.")
    min_history: int = Field(5, ge=2, description="Fewer past batches than this: no learned band.")
    sigmas: float = Field(4.0, gt=0, description="Half-width of a learned band in SDs.")
    sensor_mean: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="sensor -> [low, high] of the batch mean."
    )
    sensor_std: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="sensor -> [low, high] of the batch SD."
    )
    label_rate: tuple[float, float] | None = Field(
        None, description="[low, high] of the share of rows labelled as failure/defect."
    )


class ContractConfig(_Strict):
    """Batch-level thresholds of the data contract (row-level ranges come from the sensors)."""

    max_null_rate: float = Field(0.05, ge=0, le=1, description="Per sensor and batch.")
    max_quarantine_rate: float = Field(
        0.2, ge=0, le=1, description="Above this share of quarantined rows the batch is blocked."
    )
    max_future_s: int = Field(300, ge=0, description="Tolerated clock skew into the future.")
    min_rows: int = Field(1, ge=0, description="A batch with fewer accepted rows is blocked.")
    cadence_tolerance: float = Field(
        0.5, gt=0, description="Median interval may differ from cadence_s by this share."
    )
    max_gap_factor: float = Field(
        10, gt=1, description="A machine silent for more than this many cadences is a `gap`."
    )
    max_latency_s: float | None = Field(
        None, gt=0, description="Arrival minus event time above this is `latency`; null = off."
    )
    max_out_of_range_s: float = Field(
        7200, gt=0, description="A sensor out of range on a machine for longer than this."
    )
    stuck_readings: int | None = Field(
        30, ge=2, description="This many identical consecutive readings = `stuck`; null = off."
    )
    spike_sigmas: float | None = Field(
        12, gt=0, description="A reading this many robust SDs off both neighbours = `spike`."
    )
    categories: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Categorical column -> allowed values (e.g. product codes).",
    )
    bands: BandsConfig = Field(default_factory=BandsConfig)
    severity: dict[str, RuleSeverity] = Field(
        default_factory=dict,
        description="Rule severity overrides: exact rule (`stuck:rpm`) or its prefix (`stuck`).",
    )

    @field_validator("severity", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False; take it as the "off" the user wrote.
        if isinstance(v, dict):
            return {k: ("off" if x is False else x) for k, x in v.items()}
        return v

"""Feature engineering as code: one implementation for training (batch) and the edge (online)."""

from factory_mlops.features._compute import (
    compute_features,
    compute_online_features,
    latest_step_end,
)
from factory_mlops.features._spec import SUPPORTED_STATS, FeatureSpec

__all__ = [
    "SUPPORTED_STATS",
    "FeatureSpec",
    "compute_features",
    "compute_online_features",
    "latest_step_end",
]

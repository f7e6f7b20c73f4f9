"""Feature engineering as code: one implementation for training (batch) and the edge (online)."""

from factory_mlops.features._channels import channel_matrix
from factory_mlops.features._compute import (
    compute_features,
    compute_online_features,
    latest_step_end,
    online_feature_vector,
)
from factory_mlops.features._context import FeatureContext, machine_baselines, resets_from
from factory_mlops.features._online import OnlineFeatures
from factory_mlops.features._plugins import (
    feature_function,
    load_bundle_plugins,
    load_plugin,
    plugin_files,
    registered,
)
from factory_mlops.features._regimes import fit_regimes
from factory_mlops.features._spec import (
    SUPPORTED_STATS,
    BaselineSpec,
    DerivedSpec,
    FeatureSpec,
    RegimeSpec,
    SpectralSpec,
)

__all__ = [
    "SUPPORTED_STATS",
    "BaselineSpec",
    "DerivedSpec",
    "FeatureContext",
    "FeatureSpec",
    "OnlineFeatures",
    "RegimeSpec",
    "SpectralSpec",
    "channel_matrix",
    "compute_features",
    "compute_online_features",
    "feature_function",
    "fit_regimes",
    "latest_step_end",
    "load_bundle_plugins",
    "load_plugin",
    "machine_baselines",
    "online_feature_vector",
    "plugin_files",
    "registered",
    "resets_from",
]

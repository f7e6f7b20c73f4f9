"""What both feature paths feed the buckets with: the channel matrix, the correlation pairs' columns
and the EWMA time constants of the windows."""

from __future__ import annotations

import math

import numpy as np

from factory_mlops.features._plugins import compute_derived
from factory_mlops.features._regimes import normalise
from factory_mlops.features._spec import FeatureSpec


def channel_matrix(columns: dict[str, np.ndarray], spec: FeatureSpec) -> np.ndarray:
    """Raw sensor columns -> the (n, channels) matrix: derived channels, then regime normalisation."""
    cols = {s: np.asarray(columns[s], dtype=float) for s in spec.sensors}
    for d in spec.derived:
        cols[d.name] = compute_derived(d.name, d.code_sha256, cols)
    cols = normalise(cols, spec)
    return np.column_stack([cols[c] for c in spec.channels]) if spec.channels else np.empty((0, 0))


def ewma_tau_h(spec: FeatureSpec, w: int) -> float:
    """The EWMA time constant (hours) of a `w`-minute window."""
    return spec.ewma_half_life * w / 60.0 / math.log(2)


def pair_columns(X: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """The channel-matrix columns of each correlation pair's first and second channel."""
    idx = {c: i for i, c in enumerate(spec.channels)}
    return X[:, [idx[a] for a, _ in spec.correlations]], X[
        :, [idx[c] for _, c in spec.correlations]
    ]

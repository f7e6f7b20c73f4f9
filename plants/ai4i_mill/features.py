"""ai4i_mill's own features: the physics behind its failure modes (AI4I 2020 documentation).

Heat-dissipation failures happen when the process runs less than ~8.6 K above the air with a slow
spindle; power failures when the mechanical power leaves ~3.5-9 kW; overstrain failures when tool
wear times torque is too high. The generic window statistics see these only as combinations of
channels, so the plant derives them per reading. plant.yaml names this module as
`features.plugin`; every entry point (the Dagster definitions, the CLI, the edge bundle) loads it
from there, and the spec records each function's source hash.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from factory_mlops.features import feature_function


@feature_function("temp_rise_k", inputs=("process_temp_c", "air_temp_c"))
def temp_rise_k(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """How far the process runs above the air (K): low = poor heat dissipation."""
    return c["process_temp_c"] - c["air_temp_c"]


@feature_function("power_w", inputs=("torque_nm", "spindle_speed_rpm"))
def power_w(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mechanical power at the spindle (W) = torque x angular speed."""
    return c["torque_nm"] * c["spindle_speed_rpm"] * (2.0 * np.pi / 60.0)


@feature_function("strain_nm_min", inputs=("torque_nm", "tool_wear_min"))
def strain_nm_min(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """Tool wear x torque (Nm min): the overstrain load of the current tool."""
    return c["torque_nm"] * c["tool_wear_min"]

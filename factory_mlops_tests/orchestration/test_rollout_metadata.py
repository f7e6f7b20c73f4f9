"""The rollout asset's metadata never shows an unmeasured shadow day as 0 % disagreement."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.metadata import normalize_metadata

from factory_mlops.orchestration.assets_daily import rollout_metadata
from factory_mlops.pipeline import RolloutState


def _state(observed: list[dict]) -> RolloutState:
    return RolloutState(3, 2, "shadow", ["line_1_edge"], "2026-06-01", 2.0, observed)


def test_a_failed_shadow_day_shows_no_rates_and_its_error():
    failed = {"day": "2026-06-01", "node": "line_1_edge", "rows": 48, "error": "BundleError: x"}
    meta = rollout_metadata(_state([failed]))
    assert meta["disagreement_rate"] is None
    assert meta["shadow_alarm_rate"] is None
    assert meta["shadow_error"] == "BundleError: x"
    # dagster records None as a null value, not as a number
    assert normalize_metadata(meta)["disagreement_rate"] == dg.MetadataValue.null()


def test_a_measured_day_shows_its_rates_zero_included():
    ok = {
        "day": "2026-06-01",
        "node": "line_1_edge",
        "disagreement_rate": 0.0,
        "shadow_alarm_rate": 0.125,
        "error": None,
    }
    meta = rollout_metadata(_state([ok]))
    assert meta["disagreement_rate"] == 0.0
    assert meta["shadow_alarm_rate"] == 0.125
    assert meta["shadow_error"] is None


def test_no_observed_day_yet_shows_no_rates():
    meta = rollout_metadata(_state([]))
    assert meta["disagreement_rate"] is None and meta["shadow_alarm_rate"] is None
    assert meta["days_observed"] == 0

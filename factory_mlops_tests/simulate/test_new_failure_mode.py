"""The `new_failure_mode` event: existing configs simulate exactly as before; the new mode fails
machines from its day on, logs its own failure type and shows its own precursor signature."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import PlantConfig, load_plant_config, parse_plant_config
from factory_mlops.errors import PlantConfigError
from factory_mlops.simulate import SimulatedPlant, simulate_plant

PLANTS_DIR = Path(__file__).resolve().parents[2] / "plants"

# sha256 of simulations computed with the simulator as it was before `new_failure_mode` existed
# (commit ee77915, same digest function): adding the kind must not change a single value.
DIGESTS_BEFORE = {
    "plant_a_day": "68df60e498357031554fb98a5ea4b23c8009d786db5f1310ef1fb3b081db9bf3",
    "plant_a_40d": "0fb7efa939ae8e7f53a4e9977870cef529404dc692831f8a746d28a698725937",
    "plant_b_all_kinds": "d66349c8917b98f4b684a193cbb56d1761e67e67d042be2f8842af31c89f73c1",
}
LEAK = {
    "kind": "new_failure_mode",
    "day": 10,
    "failure_type": "hydraulic_leak",
    "rate_per_machine_day": 0.15,
    "precursor_hours": 10,
    "signature": {"hydraulic_oil_temp_c": 6.0, "injection_pressure_bar": -120.0},
}


def digest(sim: SimulatedPlant) -> str:
    """sha256 over every reading (timestamps, machines, sensor values) and the maintenance log."""
    h = hashlib.sha256()
    r = sim.readings
    h.update(pd.DatetimeIndex(r["timestamp"]).as_unit("ns").asi8.tobytes())
    h.update("|".join(r["machine_id"].astype(str)).encode())
    for c in r.columns[2:]:
        h.update(c.encode())
        h.update(np.ascontiguousarray(r[c].to_numpy(dtype=np.float64)).tobytes())
    m = sim.maintenance
    for c in ("event_time", "reported_at"):
        h.update(pd.DatetimeIndex(m[c]).as_unit("ns").asi8.tobytes())
    for c in ("machine_id", "event", "failure_type"):
        h.update("|".join(m[c].astype(str)).encode())
    h.update(m["downtime_hours"].to_numpy(dtype=np.float64).tobytes())
    return h.hexdigest()


def _variant(plant: str, **sim_updates: Any) -> PlantConfig:
    data = load_plant_config(PLANTS_DIR / plant / "plant.yaml").model_dump(mode="json")
    data["simulation"].update(sim_updates)
    return parse_plant_config(data, "<test>")


def _cases() -> dict[str, PlantConfig]:
    return {
        "plant_a_day": _variant("plant_a", history_days=1, stream_days=0),
        "plant_a_40d": _variant("plant_a", history_days=40, stream_days=0),
        "plant_b_all_kinds": _variant(
            "plant_b",
            history_days=12,
            stream_days=0,
            events=[
                {"kind": "seasonal_ambient", "day": 0, "amplitude": 2, "period_days": 30},
                {
                    "kind": "retooling",
                    "day": 3,
                    "machines": ["cnc_01", "cnc_04"],
                    "shift": {"spindle_load_pct": 5},
                },
                {"kind": "sensor_recalibration", "day": 6, "shift": {"coolant_temp_c": 1.5}},
                {"kind": "resin_change", "day": 8, "wear_scale": {"motor_current_a": 2.0}},
            ],
        ),
    }


@pytest.mark.parametrize("name", sorted(DIGESTS_BEFORE))
def test_existing_configs_simulate_exactly_as_before(name: str) -> None:
    assert digest(simulate_plant(_cases()[name])) == DIGESTS_BEFORE[name]


@pytest.fixture(scope="module")
def pair() -> tuple[SimulatedPlant, SimulatedPlant]:
    base = _variant("plant_a", history_days=40, stream_days=0)
    events = [*base.model_dump(mode="json")["simulation"]["events"], LEAK]
    return simulate_plant(base), simulate_plant(
        _variant("plant_a", history_days=40, stream_days=0, events=events)
    )


def test_new_mode_fails_machines_from_its_day_with_its_type(
    pair: tuple[SimulatedPlant, SimulatedPlant],
) -> None:
    before, after = pair
    m = after.maintenance
    leaks = m[(m["event"] == "failure") & (m["failure_type"] == "hydraulic_leak")]
    onset = pd.Timestamp(after.date_of(LEAK["day"]), tz="UTC")
    assert len(leaks) > 0 and (leaks["event_time"] > onset).all()
    # 8 machines x 30 days x 0.15 = 36 expected over the machines' up time (Poisson, wide bounds)
    assert 15 <= len(leaks) <= 60
    assert "hydraulic_leak" not in set(before.maintenance["failure_type"])
    # every leak is followed by a repair entry, like any other failure
    repairs = m[m["event"] == "repair"]
    for rec in leaks.itertuples():
        later = repairs[
            (repairs["machine_id"] == rec.machine_id) & (repairs["event_time"] > rec.event_time)
        ]
        assert len(later) or rec.event_time > onset + pd.Timedelta(days=29)


def test_data_before_the_new_mode_is_unchanged(pair: tuple[SimulatedPlant, SimulatedPlant]) -> None:
    before, after = pair
    cut = pd.Timestamp(after.date_of(LEAK["day"]), tz="UTC")
    # the signature of a leak early on the event day starts up to precursor_hours before it
    quiet = cut - pd.Timedelta(hours=LEAK["precursor_hours"])
    pd.testing.assert_frame_equal(
        before.readings[before.readings["timestamp"] < quiet],
        after.readings[after.readings["timestamp"] < quiet],
    )
    pd.testing.assert_frame_equal(
        before.maintenance[before.maintenance["event_time"] < cut].reset_index(drop=True),
        after.maintenance[after.maintenance["event_time"] < cut].reset_index(drop=True),
    )


def test_precursor_signature_precedes_each_leak(
    pair: tuple[SimulatedPlant, SimulatedPlant],
) -> None:
    _, after = pair
    r, m = after.readings, after.maintenance
    leaks = m[(m["event"] == "failure") & (m["failure_type"] == "hydraulic_leak")]
    last_hour, earlier = [], []
    for rec in leaks.itertuples():
        g = r[r["machine_id"] == rec.machine_id].set_index("timestamp")["hydraulic_oil_temp_c"]
        last_hour.append(g[rec.event_time - pd.Timedelta(hours=1) : rec.event_time].mean())
        earlier.append(
            g[
                rec.event_time - pd.Timedelta(hours=16) : rec.event_time - pd.Timedelta(hours=11)
            ].mean()
        )
    rise = np.nanmean(np.array(last_hour) - np.array(earlier))
    # the ramp reaches +6 degC at the failure; the last hour averages ~5.7 above the pre-ramp level
    assert 4.0 < rise < 8.0


def test_new_mode_config_errors() -> None:
    with pytest.raises(PlantConfigError, match="failure_type"):
        _variant("plant_a", events=[{**LEAK, "failure_type": "wear"}])
    with pytest.raises(PlantConfigError, match="rate_per_machine_day"):
        _variant("plant_a", events=[{**LEAK, "rate_per_machine_day": 0}])
    with pytest.raises(PlantConfigError, match="new_failure_mode only"):
        _variant("plant_a", events=[{"kind": "resin_change", "day": 3, "failure_type": "x"}])
    with pytest.raises(PlantConfigError, match="unknown sensors"):
        simulate_plant(_variant("plant_a", events=[{**LEAK, "signature": {"nope": 1.0}}]))
    with pytest.raises(PlantConfigError, match="own name"):
        simulate_plant(_variant("plant_a", events=[LEAK, {**LEAK, "day": 20}]))

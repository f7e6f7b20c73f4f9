"""A synthetic plant-month as a historian would export it: every value a string, a few faults.

100 machines × 8 sensors, one reading a minute for 30 days = 4,320,000 rows. Values are drawn from
tables of pre-formatted strings (formatting 35 M floats would dominate the set-up otherwise), so
building the batch takes seconds and the benchmark times only the validation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig, parse_plant_config

SENSORS = [
    ("temp_c", "degC", 0.0, 150.0, 60.0, 2.0),
    ("pressure_bar", "bar", 0.0, 400.0, 200.0, 5.0),
    ("vibration_mm_s", "mm/s", 0.0, 50.0, 4.0, 0.5),
    ("current_a", "A", 0.0, 200.0, 80.0, 3.0),
    ("speed_rpm", "rpm", 0.0, 6000.0, 3000.0, 40.0),
    ("flow_l_min", "l/min", 0.0, 500.0, 120.0, 4.0),
    ("oil_temp_c", "degC", 0.0, 120.0, 45.0, 1.0),
    ("torque_nm", "Nm", 0.0, 900.0, 300.0, 8.0),
]


def plant_month_config(machines: int = 100) -> PlantConfig:
    """The benchmark plant: `machines` machines on 4 lines, the 8 sensors above at 60 s cadence."""
    return parse_plant_config(
        {
            "plant_id": "bench_plant",
            "partitions_start": "2026-06-01",
            "machines": [{"id": f"m{i:03d}", "line": f"line_{i % 4}"} for i in range(machines)],
            "sensors": [
                {"name": n, "unit": u, "min": lo, "max": hi, "cadence_s": 60}
                for n, u, lo, hi, _, _ in SENSORS
            ],
        },
        "<bench>",
    )


def plant_month_batch(
    config: PlantConfig, *, days: int = 30, seed: int = 0, fault_rate: float = 0.001
) -> pd.DataFrame:
    """The all-string batch: `timestamp` (ISO 8601 with Z), `machine_id`, one column per sensor.

    About `fault_rate` of the rows carry a fault each of: a non-numeric value, an out-of-range
    value, an empty value (dropout), a duplicated row.
    """
    rng = np.random.default_rng(seed)
    machines = np.array(config.machine_ids, dtype=object)
    n_t = days * 24 * 60
    stamps = pd.date_range("2026-06-01", periods=n_t, freq="60s", tz="UTC")
    stamp_str = np.char.add(
        np.datetime_as_string(stamps.tz_localize(None).to_numpy(), unit="s"), "Z"
    ).astype(object)
    n = n_t * len(machines)
    t_idx = np.repeat(np.arange(n_t), len(machines))
    m_idx = np.tile(np.arange(len(machines)), n_t)
    data: dict[str, np.ndarray] = {"timestamp": stamp_str[t_idx], "machine_id": machines[m_idx]}
    for name, _, _lo, hi, base, noise in SENSORS:
        grid = np.round(np.linspace(base - 6 * noise, base + 6 * noise, 4001), 3)
        table = np.array([format(v, "g") for v in grid], dtype=object)
        offsets = rng.normal(0, noise, len(machines))
        vals = rng.normal(0, noise, n) + offsets[m_idx]
        pos = np.clip(np.round((vals + 6 * noise) / (12 * noise) * 4000), 0, 4000).astype(np.int64)
        col = table[pos]
        k = max(1, int(n * fault_rate))
        col[rng.integers(0, n, k)] = ""
        col[rng.integers(0, n, k)] = "n/a"
        col[rng.integers(0, n, k)] = format(hi * 3, "g")
        data[name] = col
    frame = pd.DataFrame(data)
    dup = rng.integers(0, n, max(1, int(n * fault_rate)))
    return pd.concat([frame, frame.iloc[dup]], ignore_index=True)

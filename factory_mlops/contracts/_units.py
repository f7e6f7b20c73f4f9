"""Unit families and the `unit_suspect` rule: a sensor whose values fit its range only after a
conversion from another unit of the same quantity (°F for °C, psi for bar, inch for mm...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from factory_mlops.config import PlantConfig, SensorConfig
from factory_mlops.contracts._result import ContractFailure


@dataclass(frozen=True)
class Unit:
    """A unit as an affine map to its family's base unit: base = value * scale + offset.

    Attributes:
        name: Canonical spelling, e.g. `degF`.
        family: Physical quantity, e.g. `temperature`.
        scale: Factor to the base unit.
        offset: Offset to the base unit (after scaling).
    """

    name: str
    family: str
    scale: float
    offset: float


_UNITS: list[tuple[Unit, tuple[str, ...]]] = [
    # temperature, base kelvin
    (
        Unit("degC", "temperature", 1.0, 273.15),
        ("degc", "°c", "ºc", "c", "celsius", "deg_c", "deg c"),
    ),
    (
        Unit("degF", "temperature", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
        ("degf", "°f", "ºf", "f", "fahrenheit", "deg_f", "deg f"),
    ),
    (Unit("K", "temperature", 1.0, 0.0), ("k", "kelvin")),
    # pressure, base pascal
    (Unit("bar", "pressure", 1e5, 0.0), ("bar",)),
    (Unit("psi", "pressure", 6894.757293168361, 0.0), ("psi", "lbf/in2", "lbf/in²")),
    (Unit("kPa", "pressure", 1e3, 0.0), ("kpa",)),
    (Unit("MPa", "pressure", 1e6, 0.0), ("mpa",)),
    # vibration velocity, base m/s
    (Unit("mm/s", "velocity", 1e-3, 0.0), ("mm/s", "mm s-1", "mm_s")),
    (Unit("in/s", "velocity", 0.0254, 0.0), ("in/s", "ips", "inch/s", "in_s")),
    # length, base metre
    (Unit("mm", "length", 1e-3, 0.0), ("mm", "millimetre", "millimeter")),
    (Unit("in", "length", 0.0254, 0.0), ("in", "inch", "inches", '"')),
]
_BY_ALIAS: dict[str, Unit] = {alias: unit for unit, aliases in _UNITS for alias in aliases}

SUSPECT_OUT_OF_RANGE = 0.5  # at least this share of the values is out of range ...
SUSPECT_IN_RANGE = 0.9  # ... and at least this share is in range after a conversion


def find_unit(spelling: str) -> Unit | None:
    """The known unit written as `spelling` (case-insensitive, aliases such as `°C`), or None."""
    return _BY_ALIAS.get(spelling.strip().lower())


def conversion(source: Unit, target: Unit) -> tuple[float, float]:
    """(scale, offset) such that value in `target` = value in `source` * scale + offset."""
    return source.scale / target.scale, (source.offset - target.offset) / target.scale


def _num(x: float) -> str:
    """A number as plant.yaml should state it: at most 10 decimals, no trailing zeros."""
    text = f"{x:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _share_inside(values: np.ndarray, sensor: SensorConfig) -> float:
    return float(((values >= sensor.min) & (values <= sensor.max)).mean())


def unit_suspect_rules(
    config: PlantConfig, values: Mapping[str, np.ndarray]
) -> list[ContractFailure]:
    """`unit_suspect:<sensor>`: at least half of the sensor's numeric values (every row, before
    quarantine) are outside [min, max] and at least 90 % would be inside after converting them
    from another unit of the sensor's family into the sensor's unit.

    Known families (keyed on `SensorConfig.unit`, case-insensitive, with aliases): temperature
    degC / degF / K, pressure bar / psi / kPa / MPa, vibration velocity mm/s / in/s, length
    mm / in. When several units fit, the one with the largest in-range share wins, then the one
    whose converted median lies closest to the middle of the range.

    Args:
        config: The plant.
        values: Sensor -> typed values of every row (NaN = empty or not numeric).
    """
    out: list[ContractFailure] = []
    for sensor in config.sensors:
        target = find_unit(sensor.unit)
        if target is None or sensor.name not in values:
            continue
        v = values[sensor.name]
        v = v[~np.isnan(v)]
        if not len(v) or 1.0 - _share_inside(v, sensor) < SUSPECT_OUT_OF_RANGE:
            continue
        mid, width = (sensor.min + sensor.max) / 2, sensor.max - sensor.min
        candidates = []
        for unit, _ in _UNITS:
            if unit.family != target.family or unit.name == target.name:
                continue
            scale, offset = conversion(unit, target)
            converted = v * scale + offset
            share = _share_inside(converted, sensor)
            if share >= SUSPECT_IN_RANGE:
                off_centre = abs(float(np.median(converted)) - mid) / width
                candidates.append((-share, off_centre, unit, scale, offset))
        if not candidates:
            continue
        candidates.sort(key=lambda c: (c[0], c[1]))
        neg_share, _, unit, scale, offset = candidates[0]
        share = -neg_share
        # The lake value is source * s0 + o0 already when plant.yaml converts this sensor; the fix
        # composes the conversion found with it.
        current = config.source.readings.units.get(sensor.name)
        fix_scale, fix_offset = scale, offset
        note = ""
        if current is not None:
            fix_scale = current.scale * scale
            fix_offset = current.offset * scale + offset
            note = (
                f" (replacing the configured {{scale: {_num(current.scale)}, offset: "
                f"{_num(current.offset)}}}, which does not give {target.name})"
            )
        others = [c[2].name for c in candidates[1:]]
        also = f"; {', '.join(others)} would fit too" if others else ""
        out.append(
            ContractFailure(
                rule=f"unit_suspect:{sensor.name}",
                severity="error",
                message=(
                    f"values of {sensor.name} look like {unit.name}, not {target.name}: "
                    f"{100 * (1.0 - _share_inside(v, sensor)):.1f}% of {len(v)} readings are "
                    f"outside [{sensor.min:g}, {sensor.max:g}] {sensor.unit}, "
                    f"{100 * share:.1f}% would be inside read as {unit.name}{also}; convert in "
                    f"the export, or set source.readings.units.{sensor.name}: "
                    f"{{scale: {_num(fix_scale)}, offset: {_num(fix_offset)}}}{note} in plant.yaml"
                ),
                value=share,
                threshold=SUSPECT_IN_RANGE,
            )
        )
    return out

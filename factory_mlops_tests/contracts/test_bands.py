"""Tests of per-batch statistics and statistical bands (stated and learned) of the contract."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import PlantConfig, parse_plant_config
from factory_mlops.contracts import (
    Band,
    Bands,
    ContractResult,
    batch_stats,
    learn_bands,
    validate_readings,
)
from factory_mlops.errors import ContractError

NOW = pd.Timestamp("2026-06-02T12:00:00Z")
START = pd.Timestamp("2026-06-01T00:00:00Z")


def make_config(bands: dict[str, Any] | None = None, **contract: Any) -> PlantConfig:
    """Two machines, two sensors; `bands` is the contract.bands block."""
    block: dict[str, Any] = {"max_null_rate": 1.0, "max_quarantine_rate": 1.0, **contract}
    if bands is not None:
        block["bands"] = bands
    return parse_plant_config(
        {
            "plant_id": "test_plant",
            "partitions_start": "2026-06-01",
            "machines": [{"id": "m1", "line": "l1"}, {"id": "m2", "line": "l1"}],
            "sensors": [
                {"name": "temp_c", "unit": "degC", "min": 0, "max": 200},
                {"name": "pressure_bar", "unit": "bar", "min": 0, "max": 10},
            ],
            "contract": block,
        }
    )


CONFIG = make_config()


def make_batch(
    minutes: int = 60,
    seed: int = 0,
    temp_shift: float = 0.0,
    temp_noise: float = 0.3,
    positives: int | None = None,
) -> pd.DataFrame:
    """All-string batch, two machines, one reading a minute. With `positives`, a `label` column
    where the first `positives` rows are "1" and the others "0"."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(minutes):
        for j, m in enumerate(("m1", "m2")):
            rows.append(
                {
                    "timestamp": (START + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "machine_id": m,
                    "temp_c": f"{50 + j + temp_shift + rng.normal(0, temp_noise):.3f}",
                    "pressure_bar": f"{5 + rng.normal(0, 0.05):.3f}",
                }
            )
    frame = pd.DataFrame(rows, dtype=object)
    if positives is not None:
        frame["label"] = ["1" if k < positives else "0" for k in range(len(frame))]
    return frame


def validate(raw: pd.DataFrame, config: PlantConfig = CONFIG, **kw: Any) -> ContractResult:
    kw.setdefault("now", NOW)
    result = validate_readings(raw, config, **kw)
    assert result.rows_received == result.rows_accepted + result.rows_quarantined
    assert len(result.accepted) == result.rows_accepted
    json.dumps(result.to_dict())
    return result


def rules(result: ContractResult) -> dict[str, str]:
    return {f.rule: f.severity for f in result.failures}


def history_of(n: int, config: PlantConfig = CONFIG, **batch: Any) -> list[dict[str, Any]]:
    """`batch_stats` of `n` ordinary batches (different seeds)."""
    return [
        batch_stats(validate(make_batch(seed=100 + k, **batch), config), config) for k in range(n)
    ]


def entry(
    mean: float | None = None, std: float | None = None, rate: float | None = None
) -> dict[str, Any]:
    return {
        "rows": 100,
        "sensor_mean": {"temp_c": mean, "pressure_bar": None},
        "sensor_std": {"temp_c": std, "pressure_bar": None},
        "label_rate": rate,
    }


# ---- batch_stats -----------------------------------------------------------------------------
def test_batch_stats_is_json_and_matches_the_accepted_rows() -> None:
    result = validate(make_batch(positives=30))
    stats = batch_stats(result, CONFIG)

    assert json.loads(json.dumps(stats)) == stats
    assert stats["rows"] == 120
    assert stats["sensor_mean"]["temp_c"] == pytest.approx(result.accepted["temp_c"].mean())
    assert stats["sensor_std"]["pressure_bar"] == pytest.approx(
        result.accepted["pressure_bar"].std()
    )
    assert stats["label_rate"] == pytest.approx(0.25)

    raw = make_batch(minutes=1)
    raw["temp_c"] = ""
    empty = batch_stats(validate(raw), CONFIG)
    assert empty["sensor_mean"]["temp_c"] is None and empty["sensor_std"]["temp_c"] is None
    assert empty["sensor_std"]["pressure_bar"] is not None
    assert empty["label_rate"] is None  # no label column


# ---- stated bands ----------------------------------------------------------------------------
def test_stated_mean_band() -> None:
    config = make_config({"sensor_mean": {"temp_c": [60, 70]}})
    result = validate(make_batch(), config)

    assert rules(result) == {"band:temp_c:mean": "warning"}
    failure = result.failure("band:temp_c:mean")
    assert failure is not None
    assert failure.value == pytest.approx(result.accepted["temp_c"].mean())
    assert failure.threshold == 60.0  # the bound that was crossed
    assert failure.message.startswith(
        f"batch mean of temp_c {failure.value:.4g} is outside its band [60, 70]"
    )
    assert "(stated in contract.bands.sensor_mean.temp_c)" in failure.message
    assert "check for a process change or a sensor fault — a human should look" in failure.message
    assert result.status == "accepted"  # a warning


def test_stated_label_rate_band() -> None:
    config = make_config({"label_rate": [0.02, 0.08]})
    result = validate(make_batch(minutes=250, positives=1), config)  # 1 of 500 = 0.2 %

    failure = result.failure("band:label_rate")
    assert failure is not None and failure.severity == "warning"
    assert (failure.value, failure.threshold) == (0.002, 0.02)
    assert (
        "batch label rate 0.2% is outside its band [2%, 8%] (stated in contract.bands.label_rate)"
        in (failure.message)
    )
    assert validate(make_batch(minutes=250, positives=25), config).failures == []  # 5 %


# ---- learned bands ---------------------------------------------------------------------------
def test_learned_mean_and_std_bands() -> None:
    history = history_of(6)
    assert validate(make_batch(seed=7), history=history).failures == []

    shifted = validate(make_batch(seed=7, temp_shift=20), history=history)
    assert rules(shifted) == {"band:temp_c:mean": "warning"}
    failure = shifted.failure("band:temp_c:mean")
    assert failure is not None
    assert "(learned from 6 past batches)" in failure.message
    band = learn_bands(history, CONFIG).sensor_mean["temp_c"]
    assert failure.threshold == pytest.approx(band.high)

    noisy = validate(make_batch(seed=7, temp_noise=3), history=history)
    assert rules(noisy) == {"band:temp_c:std": "warning"}
    assert noisy.failure("band:temp_c:std").value == pytest.approx(noisy.accepted["temp_c"].std())  # type: ignore[union-attr]


def test_learned_band_formula_and_minimum_width() -> None:
    history = [entry(mean=m) for m in (10.0, 11.0, 12.0, 13.0, 14.0)]
    band = learn_bands(history, CONFIG).sensor_mean["temp_c"]
    sd = float(np.std([10, 11, 12, 13, 14], ddof=1))
    assert (band.low, band.high) == pytest.approx((12 - 4 * sd, 12 + 4 * sd))
    assert (band.source, band.n_history) == ("learned", 5)

    flat = learn_bands([entry(mean=100.0)] * 5, CONFIG).sensor_mean["temp_c"]
    assert (flat.low, flat.high) == pytest.approx((99.0, 101.0))  # ±(1e-9 + 1 % of |mean|)
    zero = learn_bands([entry(mean=0.0)] * 5, CONFIG).sensor_mean["temp_c"]
    assert zero.low < 0 < zero.high and zero.high == pytest.approx(1e-9)


def test_no_learned_band_below_min_history() -> None:
    assert "temp_c" not in learn_bands([entry(mean=1.0)] * 4, CONFIG).sensor_mean
    assert learn_bands(None, CONFIG) == Bands()
    # Entries without the statistic do not count.
    assert "temp_c" not in learn_bands([entry(mean=1.0)] * 4 + [entry()] * 3, CONFIG).sensor_mean

    config = make_config({"min_history": 3, "sigmas": 2})
    band = learn_bands([entry(mean=m) for m in (49.0, 50.0, 51.0)], config).sensor_mean["temp_c"]
    assert (band.low, band.high, band.n_history) == (pytest.approx(48.0), pytest.approx(52.0), 3)


def test_stated_band_wins_over_history() -> None:
    config = make_config({"sensor_mean": {"temp_c": [0, 1000]}})
    history = [entry(mean=m) for m in (10.0, 11.0, 12.0, 13.0, 14.0)]
    bands = learn_bands(history, config)

    assert bands.sensor_mean["temp_c"] == Band(0.0, 1000.0, "stated")
    assert validate(make_batch(), config, history=history).failures == []
    # Without the stated band the same history flags the batch (mean ~50.5).
    assert rules(validate(make_batch(), history=history)) == {"band:temp_c:mean": "warning"}


def test_label_rate_collapse_is_flagged_against_history() -> None:
    # The spec's example: history says 2–8 % defects, the batch has 0.2 %.
    history = [entry(rate=r) for r in (0.02, 0.035, 0.05, 0.065, 0.08)]
    band = learn_bands(history, CONFIG).label_rate
    assert band is not None and band.source == "learned"
    assert 0.002 < band.low < 0.02 and 0.08 < band.high < 1.0
    # A symmetric band on the raw rates would reach below 0 and never flag a collapse.
    raw_sd = float(np.std([0.02, 0.035, 0.05, 0.065, 0.08], ddof=1))
    assert 0.05 - 4 * raw_sd < 0

    result = validate(make_batch(minutes=250, positives=1), history=history)
    assert rules(result) == {"band:label_rate": "warning"}
    failure = result.failure("band:label_rate")
    assert failure is not None
    assert (failure.value, failure.threshold) == (0.002, pytest.approx(band.low))
    assert failure.message.startswith("batch label rate 0.2% is outside its band [")
    assert "(learned from 5 past batches)" in failure.message

    assert validate(make_batch(minutes=250, positives=20), history=history).failures == []  # 4 %
    # Upwards the 4-SD band on the log-odds scale reaches ~32 %: 40 % is flagged.
    assert band.high == pytest.approx(0.316, abs=0.01)
    assert rules(validate(make_batch(minutes=250, positives=200), history=history)) == {
        "band:label_rate": "warning"
    }


def test_no_label_band_without_labels_and_band_severity_override() -> None:
    history = [entry(rate=r) for r in (0.02, 0.035, 0.05, 0.065, 0.08)]
    assert validate(make_batch(minutes=250), history=history).failures == []  # no label column

    raw = make_batch(minutes=250, positives=1)
    raw.loc[:, "label"] = ""  # all unlabelled: no rate
    assert validate(raw, history=history).failures == []

    config = make_config(severity={"band:label_rate": "error"})
    result = validate(make_batch(minutes=250, positives=1), config, history=history)
    assert rules(result) == {"band:label_rate": "error"} and result.status == "rejected"
    off = make_config(severity={"band": "off"})
    assert validate(make_batch(minutes=250, positives=1), off, history=history).failures == []


def test_history_entries_must_be_mappings() -> None:
    with pytest.raises(ContractError, match=r"history\[1\] is a list"):
        validate(make_batch(), history=[entry(mean=1.0), [1, 2]])  # type: ignore[list-item]

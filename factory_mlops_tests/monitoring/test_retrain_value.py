"""`retrain_value`: the shadow challenger's accumulated gain over the champion, and its bound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import CostConfig
from factory_mlops.monitoring import RetrainValue, retrain_value

START = pd.Timestamp("2026-03-01", tz="UTC")
COSTS = CostConfig()  # missed 1.04 M, caught 0.26 M, false-alarm row 5 k, rollout 100 k


def _rows(days: int, machines: int = 4) -> pd.DataFrame:
    t = START + pd.to_timedelta(np.arange(1, days * 24 + 1), unit="h")
    return pd.DataFrame(
        {
            "machine_id": np.repeat([f"m{i}" for i in range(machines)], len(t)),
            "timestamp": np.tile(t, machines),
        }
    )


def _log(failures: list[tuple[str, pd.Timestamp]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "machine_id": [m for m, _ in failures],
            "event_time": pd.to_datetime([t for _, t in failures], utc=True),
            "event": "failure",
            "reported_at": pd.to_datetime([t for _, t in failures], utc=True),
        }
    )


def _alarms(
    rows: pd.DataFrame, failures: list[tuple[str, pd.Timestamp]], hours: float
) -> pd.DataFrame:
    """Alarms in the `hours` before each failure (0 = never alarms)."""
    alarm = np.zeros(len(rows), dtype=bool)
    for m, f in failures:
        alarm |= (
            (rows["machine_id"] == m)
            & (rows["timestamp"] < f)
            & (rows["timestamp"] >= f - pd.Timedelta(hours=hours))
        ).to_numpy()
    return rows.assign(alarm=alarm)


FAILS = [(f"m{i % 4}", START + pd.Timedelta(days=2 + 2 * i, hours=12)) for i in range(6)]


def test_a_challenger_that_catches_what_the_champion_misses_is_worth_a_retrain() -> None:
    rows = _rows(16)
    champ = rows.assign(alarm=False)
    chall = _alarms(rows, FAILS, hours=6)
    v = retrain_value(
        champ,
        chall,
        _log(FAILS),
        known_at=START + pd.Timedelta(days=17),
        horizon_hours=24,
        costs=COSTS,
    )
    assert isinstance(v, RetrainValue) and v.judged
    assert v.failures == 6 and v.challenger_caught == 6 and v.champion_caught == 0
    assert v.gain == pytest.approx(6 * (COSTS.missed_failure_cost - COSTS.caught_failure_cost))
    assert v.gain_low is not None and COSTS.rollout_cost < v.gain_low <= v.gain
    assert v.severity == "critical" and "caught 6 vs 0 of 6" in v.reasons[0]
    assert v.daily[-1]["cumulative"] == pytest.approx(v.gain)


def test_the_same_model_twice_gains_nothing() -> None:
    rows = _rows(16)
    both = _alarms(rows, FAILS, hours=6)
    v = retrain_value(
        both,
        both.copy(),
        _log(FAILS),
        known_at=START + pd.Timedelta(days=17),
        horizon_hours=24,
        costs=COSTS,
    )
    assert v.judged and v.gain == 0.0 and v.severity == "ok"


def test_false_alarms_count_against_the_challenger() -> None:
    rows = _rows(16)
    champ = _alarms(rows, FAILS, hours=6)
    noisy = champ.copy()
    noisy.loc[noisy.index % 7 == 0, "alarm"] = True  # many extra alarm rows
    v = retrain_value(
        champ,
        noisy,
        _log(FAILS),
        known_at=START + pd.Timedelta(days=17),
        horizon_hours=24,
        costs=COSTS,
    )
    assert v.challenger_false_alarms > v.champion_false_alarms
    assert v.gain < 0 and v.severity == "ok"


def test_outcomes_not_known_yet_are_not_counted() -> None:
    rows = _rows(16)
    champ = rows.assign(alarm=False)
    chall = _alarms(rows, FAILS, hours=6)
    # at day 4 only the first failure (day 2.5) is reported; later rows have no outcome yet
    v = retrain_value(
        champ,
        chall,
        _log(FAILS),
        known_at=START + pd.Timedelta(days=4),
        horizon_hours=24,
        costs=COSTS,
    )
    assert v.failures == 1 and v.challenger_caught == 1
    assert v.rows < len(rows)


def test_too_few_days_or_no_failure_is_not_judged() -> None:
    rows = _rows(2)
    v = retrain_value(
        rows.assign(alarm=False),
        rows.assign(alarm=False),
        _log(FAILS[:1]),
        known_at=START + pd.Timedelta(days=4),
        horizon_hours=24,
        costs=COSTS,
    )
    assert not v.judged and v.severity == "ok" and v.reasons[0].startswith("not judged")
    assert v.gain_low is None
    rows = _rows(10)
    v = retrain_value(
        rows.assign(alarm=False),
        rows.assign(alarm=True),
        _log([]),
        known_at=START + pd.Timedelta(days=12),
        horizon_hours=24,
        costs=COSTS,
    )
    assert not v.judged and "no known failure" in v.reasons[0]


def test_different_rows_are_refused() -> None:
    rows = _rows(4)
    with pytest.raises(ValueError, match="same rows"):
        retrain_value(
            rows.assign(alarm=False),
            rows.iloc[1:].assign(alarm=False),
            _log(FAILS),
            known_at=START + pd.Timedelta(days=5),
            horizon_hours=24,
            costs=COSTS,
        )
    with pytest.raises(ValueError, match="lack columns"):
        retrain_value(
            rows,
            rows.assign(alarm=False),
            _log(FAILS),
            known_at=START + pd.Timedelta(days=5),
            horizon_hours=24,
            costs=COSTS,
        )

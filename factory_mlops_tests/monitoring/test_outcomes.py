"""Realised outcomes of predictions, as known at an instant: late reports, open horizons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory_mlops.monitoring._outcomes import label_outcomes, outcome_counts
from factory_mlops.training._labels import label_failures


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture()
def predictions() -> pd.DataFrame:
    """Hourly predictions of two machines on 2026-06-01 (index deliberately not 0..n-1)."""
    stamps = pd.date_range(ts("2026-06-01T01:00"), periods=24, freq="h")
    frame = pd.DataFrame(
        {
            "machine_id": ["m1"] * 24 + ["m2"] * 24,
            "timestamp": list(stamps) * 2,
            "probability": np.linspace(0.01, 0.9, 48),
            "alarm": [False, True] * 24,
        }
    )
    frame.index = frame.index + 100
    return frame


@pytest.fixture()
def maintenance() -> pd.DataFrame:
    """m1 fails at 2026-06-02 06:00, reported 12 h later; a repair entry (not a failure) on m2."""
    return pd.DataFrame(
        {
            "machine_id": ["m1", "m2"],
            "event_time": [ts("2026-06-02T06:00"), ts("2026-06-01T12:00")],
            "reported_at": [ts("2026-06-02T18:00"), ts("2026-06-01T13:00")],
            "event": ["failure", "repair"],
            "failure_type": ["screw_wear", ""],
        }
    )


def test_positives_negatives_and_unknown(predictions, maintenance):
    out = label_outcomes(
        predictions, maintenance, 24, ts("2026-06-03T12:00"), label_latency_hours=12
    )
    assert list(out.index) == list(predictions.index) and list(out.columns)[:4] == list(
        predictions.columns
    )
    m1 = out[out["machine_id"] == "m1"]
    # failure at 06-02 06:00: predictions at T >= 06-01 06:00 have it within 24 h
    pos = m1["timestamp"] >= ts("2026-06-01T06:00")
    assert (m1.loc[pos, "outcome"] == 1.0).all()
    assert (m1.loc[pos, "failure_time"] == ts("2026-06-02T06:00")).all()
    # earlier ones: horizon closed before the complete part of the log (06-03 00:00) -> 0.0
    assert (m1.loc[~pos, "outcome"] == 0.0).all() and m1.loc[~pos, "failure_time"].isna().all()
    m2 = out[out["machine_id"] == "m2"]
    closed = m2["timestamp"] + pd.Timedelta(hours=24) <= ts("2026-06-03T00:00")
    assert (m2.loc[closed, "outcome"] == 0.0).all()  # the repair entry is no failure
    assert m2.loc[~closed, "outcome"].isna().all() and (~closed).sum() == 0
    assert outcome_counts(out) == {
        "rows": 48,
        "positive": int(pos.sum()),
        "negative": 48 - int(pos.sum()),
        "unknown": 0,
    }


def test_a_failure_not_reported_yet_is_unknown_not_negative(predictions, maintenance):
    # at 06-02 12:00 the failure (06:00) has happened but is reported only at 18:00
    out = label_outcomes(predictions, maintenance, 24, ts("2026-06-02T12:00"))
    m1 = out[out["machine_id"] == "m1"]
    assert not (m1["outcome"] == 1.0).any()
    # with latency 0 the log counts as complete to 12:00: T + 24 h <= 12:00 means T <= 06-01 12:00,
    # and those rows whose horizon holds the unreported failure come out 0.0: why the latency matters
    wrong = m1[
        (m1["timestamp"] >= ts("2026-06-01T06:00")) & (m1["timestamp"] <= ts("2026-06-01T12:00"))
    ]
    assert (wrong["outcome"] == 0.0).all()
    honest = label_outcomes(
        predictions, maintenance, 24, ts("2026-06-02T12:00"), label_latency_hours=12
    )
    h1 = honest[honest["machine_id"] == "m1"]
    assert h1["outcome"].notna().sum() == (h1["timestamp"] <= ts("2026-06-01T00:00")).sum() == 0
    assert h1["outcome"].isna().all()
    # once reported, the same rows are positives even though part of their horizon is open
    later = label_outcomes(
        predictions, maintenance, 24, ts("2026-06-02T18:00"), label_latency_hours=12
    )
    l1 = later[later["machine_id"] == "m1"]
    assert (l1.loc[l1["timestamp"] >= ts("2026-06-01T06:00"), "outcome"] == 1.0).all()


def test_matches_the_training_labels(predictions, maintenance):
    """Same definition as training: label_failures on the events reported by known_at."""
    known_at = ts("2026-06-04T00:00")
    out = label_outcomes(predictions, maintenance, 24, known_at, label_latency_hours=24)
    expected = label_failures(
        predictions.reset_index(drop=True),
        maintenance,
        pd.Timedelta(hours=24),
        known_at - pd.Timedelta(hours=24),
    )
    np.testing.assert_array_equal(out["outcome"].to_numpy(), expected.to_numpy())


def test_log_without_reported_at_and_microsecond_times(predictions, maintenance):
    log = maintenance.drop(columns="reported_at")
    log["event_time"] = log["event_time"].dt.as_unit("us")
    preds = predictions.assign(timestamp=predictions["timestamp"].dt.as_unit("us"))
    out = label_outcomes(preds, log, 24, ts("2026-06-02T07:00"))
    assert (
        out.loc[out["machine_id"] == "m1", "outcome"] == 1.0
    ).sum() == 19  # 06:00 .. 00:00 (next day)


def test_bad_input_is_a_clear_error(predictions, maintenance):
    with pytest.raises(ValueError, match=r"lack columns \['timestamp'\]"):
        label_outcomes(predictions.drop(columns="timestamp"), maintenance, 24, ts("2026-06-03"))
    with pytest.raises(ValueError, match=r"maintenance log lacks columns \['event'\]"):
        label_outcomes(predictions, maintenance.drop(columns="event"), 24, ts("2026-06-03"))
    with pytest.raises(ValueError, match="has no time zone"):
        label_outcomes(predictions, maintenance, 24, pd.Timestamp("2026-06-03"))
    with pytest.raises(ValueError, match="timezone-aware"):
        label_outcomes(
            predictions.assign(timestamp=predictions["timestamp"].dt.tz_localize(None)),
            maintenance,
            24,
            ts("2026-06-03"),
        )
    with pytest.raises(ValueError, match="horizon_hours must be a positive"):
        label_outcomes(predictions, maintenance, 0, ts("2026-06-03"))

"""A small factory home for feedback tests: real edge prediction logs of plant_a's two nodes and a
maintenance log naming the failure types `wear` and `random` (no lake features, no models)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pytest

DAY = dt.date(2026, 6, 10)


@dataclass(frozen=True)
class FeedbackHome:
    config: object
    home: object
    #: prediction_id -> (node_id, machine_id, timestamp, alarm)
    predictions: dict[str, tuple[str, str, pd.Timestamp, bool]]

    def ids(self, *, alarm: bool | None = None, node: str | None = None) -> list[str]:
        return [
            p
            for p, (n, _, _, a) in self.predictions.items()
            if (alarm is None or a == alarm) and (node is None or n == node)
        ]


def scored_frame(
    machines: list[str],
    times: list[pd.Timestamp],
    *,
    version: int = 2,
    prefix: str = "p",
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Rows shaped like `EdgeModel.score` output (probabilities alternate around the threshold)."""
    rows = []
    for i, (m, t) in enumerate((m, t) for t in times for m in machines):
        p = 0.9 if i % 2 else 0.1
        rows.append(
            {
                "prediction_id": f"{prefix}{i:04d}",
                "machine_id": m,
                "timestamp": t,
                "probability": p,
                "alarm": p >= threshold,
                "model_version": version,
                "bundle_sha256": "b" * 64,
                "feature_spec_hash": "f" * 16,
                "scored_at": pd.Timestamp("2026-06-10T12:00:00Z"),
                "rul_hours": float("nan"),
            }
        )
    return pd.DataFrame(rows)


def write_maintenance(config, home, day: dt.date, types: list[str]) -> None:
    from factory_mlops.ingest import Lake

    t0 = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=3)
    log = pd.DataFrame(
        {
            "event_time": pd.Series(
                [t0 + pd.Timedelta(hours=i) for i in range(len(types))], dtype="datetime64[ns, UTC]"
            ),
            "reported_at": pd.Series(
                [t0 + pd.Timedelta(hours=i + 1) for i in range(len(types))],
                dtype="datetime64[ns, UTC]",
            ),
            "machine_id": pd.Series(["press_01"] * len(types), dtype=object),
            "event": pd.Series(["failure"] * len(types), dtype=object),
            "failure_type": pd.Series(types, dtype=object),
            "downtime_hours": pd.Series([8.0] * len(types), dtype=float),
        }
    )
    Lake(home, config.plant_id).write("maintenance_log", day, log)


@pytest.fixture
def fb_home(plant_a_config, tmp_path) -> FeedbackHome:
    from factory_mlops.edge import PredictionLog
    from factory_mlops.home import FactoryHome

    home = FactoryHome(tmp_path / "home")
    home.root.mkdir(parents=True)
    start = pd.Timestamp(DAY, tz="UTC")
    times = [start + pd.Timedelta(minutes=10 * k) for k in range(1, 4)]
    preds: dict[str, tuple[str, str, pd.Timestamp, bool]] = {}
    for node, machines in (
        ("line_1_edge", ["press_01", "press_02"]),
        ("line_2_edge", ["press_05", "press_06"]),
    ):
        frame = scored_frame(machines, times, prefix=f"{node}-")
        PredictionLog(home.edge(plant_a_config.plant_id, node) / "predictions.sqlite").append(
            frame, plant_a_config.plant_id, node
        )
        preds.update(
            {
                r.prediction_id: (node, r.machine_id, r.timestamp, bool(r.alarm))
                for r in frame.itertuples()
            }
        )
    write_maintenance(plant_a_config, home, DAY, ["wear", "random"])
    return FeedbackHome(plant_a_config, home, preds)

"""A factory home for the shop-floor page's load benchmark and tests, built in seconds.

It holds what the page reads, written by the product's own writers: each edge node's prediction
log (`PredictionLog.append`, with logged top-k contributions), an installed bundle's manifest and
drift reference (`build_reference` on features drawn like the plant's sensors), and a maintenance
log naming the plant's failure types (`Lake.write`). No model is trained: the page never scores.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from factory_mlops.config import PlantConfig
    from factory_mlops.home import FactoryHome

#: Version and threshold of the bundle the sample nodes "run".
SAMPLE_VERSION = 2
SAMPLE_THRESHOLD = 0.5


@dataclass
class SamplePlant:
    config: PlantConfig
    #: prediction_id -> (node, machine, timestamp, probability, alarm)
    predictions: dict[str, tuple[str, str, pd.Timestamp, float, bool]] = field(default_factory=dict)

    def ids(self, *, alarm: bool | None = None) -> list[str]:
        return [p for p, v in self.predictions.items() if alarm is None or v[4] == alarm]


def _features(
    config: PlantConfig, names: list[str], rows: int, rng: np.random.Generator, start: pd.Timestamp
) -> pd.DataFrame:
    machines = [m.id for m in config.machines]
    frame = pd.DataFrame(rng.normal(0.0, 1.0, size=(rows, len(names))), columns=names)
    for j, name in enumerate(names):  # put each feature on its sensor's scale
        sensor = next((s for s in config.sensors if name.startswith(s.name + "__")), None)
        if sensor is not None:
            mid, width = (sensor.min + sensor.max) / 2, (sensor.max - sensor.min) / 12
            frame.iloc[:, j] = mid + width * frame.iloc[:, j]
    frame["machine_id"] = [machines[i % len(machines)] for i in range(rows)]
    frame["timestamp"] = [start + pd.Timedelta(hours=i // len(machines)) for i in range(rows)]
    return frame


def build_sample_plant(
    config: PlantConfig,
    home: FactoryHome,
    *,
    days: int = 2,
    seed: int = 0,
    failure_types: tuple[str, ...] = ("wear", "random"),
    end: dt.date = dt.date(2026, 6, 10),
) -> SamplePlant:
    """Write `days` days of hourly predictions per machine for every edge node of `config`."""
    from factory_mlops.edge import PredictionLog
    from factory_mlops.features import FeatureSpec
    from factory_mlops.ingest import Lake
    from factory_mlops.monitoring import build_reference

    rng = np.random.default_rng(seed)
    spec = FeatureSpec.from_config(config)
    names = spec.feature_names
    start = pd.Timestamp(end, tz="UTC") - pd.Timedelta(days=days - 1)
    ref_feats = _features(
        config, names, 24 * 5 * len(config.machines), rng, start - pd.Timedelta(days=40)
    )
    reference = build_reference(ref_feats, names, rng.uniform(0, 1, len(ref_feats)), spec.hash)
    lines = {m.id: m.line for m in config.machines}
    out = SamplePlant(config)
    for node in config.edge.nodes:
        machines = [m for m, line in lines.items() if not node.line or line == node.line]
        bundle = home.edge(config.plant_id, node.id) / "bundles" / f"v{SAMPLE_VERSION}-sample"
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "manifest.json").write_text(
            json.dumps(
                {
                    "plant_id": config.plant_id,
                    "version": SAMPLE_VERSION,
                    "task": "classification",
                    "threshold": SAMPLE_THRESHOLD,
                    "feature_spec_hash": spec.hash,
                    "files": {},
                }
            )
        )
        (bundle / "reference.json").write_text(reference.to_json())
        feats = _features(config, names, 24 * days * len(machines), rng, start)
        feats["machine_id"] = [machines[i % len(machines)] for i in range(len(feats))]
        prob = rng.beta(0.6, 2.5, size=len(feats))
        rows, contribs = [], []
        for i in range(len(feats)):
            top = rng.choice(len(names), size=3, replace=False)
            contribs.append(
                json.dumps(
                    [
                        *(
                            {
                                "feature": names[j],
                                "value": float(feats.iloc[i, j]),
                                "contribution": float(rng.normal(0, 1)),
                            }
                            for j in top
                        ),
                        {"feature": "(bias)", "value": None, "contribution": -2.0},
                    ]
                )
            )
            pid = f"{node.id}-{i:06d}"
            rows.append(
                {
                    "prediction_id": pid,
                    "machine_id": feats["machine_id"].iat[i],
                    "timestamp": feats["timestamp"].iat[i],
                    "probability": float(prob[i]),
                    "alarm": bool(prob[i] >= SAMPLE_THRESHOLD),
                    "model_version": SAMPLE_VERSION,
                    "bundle_sha256": "0" * 64,
                    "feature_spec_hash": spec.hash,
                    "scored_at": pd.Timestamp.now(tz="UTC"),
                    "rul_hours": float("nan"),
                }
            )
            out.predictions[pid] = (
                node.id,
                rows[-1]["machine_id"],
                rows[-1]["timestamp"],
                float(prob[i]),
                rows[-1]["alarm"],
            )
        frame = pd.DataFrame(rows)
        frame["contributions"] = contribs
        PredictionLog(home.edge(config.plant_id, node.id) / "predictions.sqlite").append(
            frame, config.plant_id, node.id
        )
    t0 = start + pd.Timedelta(hours=3)
    n = len(failure_types)
    Lake(home, config.plant_id).write(
        "maintenance_log",
        start.date(),
        pd.DataFrame(
            {
                "event_time": pd.Series(
                    [t0 + pd.Timedelta(hours=i) for i in range(n)], dtype="datetime64[ns, UTC]"
                ),
                "reported_at": pd.Series(
                    [t0 + pd.Timedelta(hours=i + 1) for i in range(n)], dtype="datetime64[ns, UTC]"
                ),
                "machine_id": pd.Series([config.machines[0].id] * n, dtype=object),
                "event": pd.Series(["failure"] * n, dtype=object),
                "failure_type": pd.Series(list(failure_types), dtype=object),
                "downtime_hours": pd.Series([8.0] * n, dtype=float),
            }
        ),
    )
    return out

"""Machine context: installs, maintenance resets and the robust baselines that follow them.

Baseline deviation and time since maintenance depend on more than a trailing window of readings:
they need when a machine was installed or last serviced, and its readings just after. That state
is a `FeatureContext`, built by the same function for training and at the edge, and passed to both.
An event counts at time T only once it is known (`known_at <= T`: maintenance logs arrive late).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from factory_mlops.features._channels import channel_matrix
from factory_mlops.features._spec import FeatureSpec

MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class FeatureContext:
    """Resets per machine and the baselines measured after them.

    Attributes:
        resets: `machine_id`, `event_time` (the reset: install or maintenance), `known_at`
            (when the edge learns of it; >= event_time).
        baselines: `machine_id`, `event_time`, `ready_at` and per baseline sensor `<s>__median`
            and `<s>__mad`: the baseline measured on `[event_time, event_time + hours)`.
    """

    resets: pd.DataFrame
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)

    def machine_resets(self, machine: str) -> tuple[np.ndarray, np.ndarray]:
        """(event_time ns, known_at ns) of a machine's resets, sorted by known_at."""
        r = self.resets[self.resets["machine_id"] == machine]
        if r.empty:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        r = r.sort_values(["known_at", "event_time"])
        return (_ns(r["event_time"]), _ns(r["known_at"]))


def _ns(s: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(s).tz_convert("UTC").as_unit("ns").asi8


def resets_from(
    maintenance: pd.DataFrame | None = None, installed: Mapping[str, pd.Timestamp] | None = None
) -> pd.DataFrame:
    """Reset table from a maintenance log (`machine_id`, `event_time`, optional `reported_at`)
    and install times. Every logged event (maintenance, repair, failure) resets the machine."""
    frames = []
    if maintenance is not None and len(maintenance):
        m = maintenance
        known = m["event_time"]
        if "reported_at" in m.columns:
            rep = pd.to_datetime(m["reported_at"], utc=True)
            known = rep.where(rep.notna() & (rep > m["event_time"]), m["event_time"])
        frames.append(
            pd.DataFrame(
                {
                    "machine_id": m["machine_id"].astype(str).to_numpy(),
                    "event_time": pd.to_datetime(m["event_time"], utc=True).to_numpy(),
                    "known_at": pd.to_datetime(known, utc=True).to_numpy(),
                }
            )
        )
    if installed:
        t = pd.to_datetime(pd.Series(list(installed.values())), utc=True)
        frames.append(
            pd.DataFrame(
                {
                    "machine_id": list(installed.keys()),
                    "event_time": t.to_numpy(),
                    "known_at": t.to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "machine_id": pd.Series(dtype=object),
                "event_time": pd.Series(dtype="datetime64[ns, UTC]"),
                "known_at": pd.Series(dtype="datetime64[ns, UTC]"),
            }
        )
    out = pd.concat(frames, ignore_index=True)
    out["event_time"] = pd.to_datetime(out["event_time"], utc=True)
    out["known_at"] = pd.to_datetime(out["known_at"], utc=True)
    return out.drop_duplicates().sort_values(["machine_id", "event_time"], ignore_index=True)


def machine_baselines(
    readings: pd.DataFrame, spec: FeatureSpec, resets: pd.DataFrame
) -> pd.DataFrame:
    """Median and MAD of each baseline sensor over the first `spec.baseline.hours` after each reset.

    `readings` (raw: `timestamp`, `machine_id`, the spec's sensors) must cover those periods;
    derived channels and regime normalisation are applied first, as for features. A baseline is ready at `event_time + hours` and only if every
    sensor had at least 3 valid readings; otherwise it is left out (the deviation stays NaN).
    """
    if spec.baseline is None:
        return pd.DataFrame()
    sensors = list(spec.baseline.sensors)
    span = pd.Timedelta(hours=spec.baseline.hours)
    rows = []
    X = channel_matrix({s: readings[s].to_numpy(dtype=float) for s in spec.sensors}, spec)
    chans = pd.DataFrame(X, columns=list(spec.channels), index=readings.index)
    chans["timestamp"], chans["machine_id"] = readings["timestamp"], readings["machine_id"]
    by_machine = {m: g for m, g in chans.groupby("machine_id", sort=False)}
    for rec in resets.itertuples(index=False):
        g = by_machine.get(rec.machine_id)
        if g is None:
            continue
        sel = g[(g["timestamp"] >= rec.event_time) & (g["timestamp"] < rec.event_time + span)]
        vals = sel[sensors].to_numpy(dtype=float)
        counts = (~np.isnan(vals)).sum(axis=0)
        if len(vals) == 0 or (counts < 3).any():
            continue
        med = np.nanmedian(vals, axis=0)
        mad = np.nanmedian(np.abs(vals - med), axis=0)
        row = {
            "machine_id": rec.machine_id,
            "event_time": rec.event_time,
            "ready_at": rec.event_time + span,
        }
        for s, a, b in zip(sensors, med, mad, strict=True):
            row[f"{s}__median"], row[f"{s}__mad"] = float(a), float(b)
        rows.append(row)
    cols = [
        "machine_id",
        "event_time",
        "ready_at",
        *[f"{s}__{x}" for s in sensors for x in ("median", "mad")],
    ]
    return pd.DataFrame(rows, columns=cols)


def machine_context(
    context: FeatureContext | None, spec: FeatureSpec, machine: str
) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[int, np.ndarray] | None]:
    """A machine's resets and baselines (event ns -> [ready ns, medians..., MADs...]) for `spec`."""
    if not spec.needs_context:
        return None, None
    if context is None:
        raise ValueError(
            "this feature spec needs the machine context (time since maintenance / baseline "
            "deviation): pass context=FeatureContext(...) built with resets_from() and machine_baselines()"
        )
    resets = context.machine_resets(machine)
    baselines: dict[int, np.ndarray] = {}
    if spec.baseline is not None and len(context.baselines):
        g = context.baselines[context.baselines["machine_id"] == machine]
        cols = [f"{s}__{x}" for s in spec.baseline.sensors for x in ("median", "mad")]
        ev = pd.DatetimeIndex(g["event_time"]).tz_convert("UTC").as_unit("ns").asi8
        ready = pd.DatetimeIndex(g["ready_at"]).tz_convert("UTC").as_unit("ns").asi8
        vals = g[cols].to_numpy(dtype=float)
        for e, rd, v in zip(ev, ready, vals, strict=True):
            baselines[int(e)] = np.r_[float(rd), v]
    return resets, baselines

"""Operator feedback as training labels: which feature rows it labels, and with what.

An edge prediction is made on one feature row: its `timestamp` is the feature step end, the same
(`machine_id`, `timestamp`) key the lake's `sensor_features` rows carry. Feedback therefore labels
the feature row with its prediction's key, overriding the label the maintenance log gives it (or
giving one to a row whose label is not known yet). A row outside the training window is read from
that day's feature partition when the day passed the data contract.

Reproducible: only feedback created at or before the training set's data end is used (the time the
maintenance log is read `as_of`), so rebuilding a registered version's training set later reads
the same feedback, whatever operators have said since.

When several people judged the same row, the latest verdict (by `created_at`, then id) decides its
label; every verdict on the row counts as used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from factory_mlops.feedback._schema import FeedbackRecord
from factory_mlops.feedback._store import FEEDBACK_FILE, FeedbackStore, configured_feedback_url
from factory_mlops.ingest import FEATURES, Lake, ReadingsStore

if TYPE_CHECKING:
    from factory_mlops.config import PlantConfig
    from factory_mlops.home import FactoryHome

#: The key of a feature row in the lake's FEATURES table (the rows predictions are made on).
_KEY = ["machine_id", "timestamp"]


@dataclass(frozen=True)
class FeedbackLabels:
    """Feedback labels for one training set.

    Attributes:
        rows: feature rows (the columns of the window's features) plus `label` (0.0/1.0), one per
            (`machine_id`, `timestamp`), sorted by timestamp then machine.
        ids: feedback ids used (sorted), i.e. every verdict on a row in `rows`.
        skipped: feedback id -> why it was not used (its feature row is not in the lake, ...).
        cutoff: feedback created after this time was not read (default the training set's data end).
    """

    rows: pd.DataFrame
    ids: tuple[int, ...] = ()
    skipped: dict[int, str] = field(default_factory=dict)
    cutoff: pd.Timestamp | None = None


def stored_feedback(
    home: FactoryHome, plant_id: str, created_until: dt.datetime
) -> list[FeedbackRecord]:
    """The plant's feedback created at or before `created_until`.

    A home without a feedback database (and no `$FACTORY_MLOPS_FEEDBACK_URL` or deployment
    ``feedback.url``) has none: training
    does not create an empty database as a side effect.
    """
    if configured_feedback_url() is None and not (home.root / FEEDBACK_FILE).exists():
        return []
    store = FeedbackStore.for_home(home)
    try:
        return store.records(plant_id, created_until=created_until)
    finally:
        store.close()


def feature_day(ts: pd.Timestamp) -> dt.date:
    """The day whose feature partition holds a row with step end `ts` (rows of day D end in (D, D+1])."""
    return (ts - pd.Timedelta(1)).date()


def feedback_labels(
    config: PlantConfig,
    home: FactoryHome,
    features: pd.DataFrame,
    *,
    data_end: pd.Timestamp,
    records: list[FeedbackRecord] | None = None,
    cutoff: pd.Timestamp | None = None,
) -> FeedbackLabels:
    """The labelled feature rows operator feedback gives a training set with data end `data_end`.

    Args:
        config: the plant. A RUL plant gets none: feedback is recorded but its 0/1 labels do not
            fit a remaining-useful-life target, so RUL training sets do not join it.
        home: the factory home (its feedback store and lake).
        features: the training window's feature rows (`machine_id`, `timestamp`, features...).
        data_end: the training set's data end; feedback on predictions after it is not joined.
        records: the feedback to join (default: the store's, created by `cutoff`).
        cutoff: feedback created after this time is not read (default `data_end`). A retrain passes
            the time it runs (verdicts on the window's predictions given since its data end count);
            the version records it, so `reproduce` reads the same feedback.
    """
    cutoff = data_end if cutoff is None else cutoff
    empty = FeedbackLabels(
        rows=features.iloc[0:0].assign(label=pd.Series(dtype=float)), cutoff=cutoff
    )
    if config.model.task == "rul":
        return empty
    if records is None:
        records = stored_feedback(home, config.plant_id, cutoff.to_pydatetime())
    skipped: dict[int, str] = {}
    groups: dict[tuple[str, pd.Timestamp], list[FeedbackRecord]] = {}
    for r in records:
        ts = pd.Timestamp(r.prediction_time).tz_convert("UTC")
        if pd.Timestamp(r.created_at) > cutoff:
            skipped[r.id] = (
                f"created {r.created_at.isoformat()}, after the cutoff {cutoff.isoformat()}"
            )
        elif ts > data_end:
            skipped[r.id] = (
                f"its prediction ({ts.isoformat()}) is after the data end {data_end.isoformat()}"
            )
        else:
            groups.setdefault((r.machine_id, ts), []).append(r)
    if not groups:
        return FeedbackLabels(rows=empty.rows, skipped=skipped, cutoff=cutoff)
    decided = {key: max(rs, key=lambda r: (r.created_at, r.id)) for key, rs in groups.items()}
    wanted = pd.DataFrame(
        {
            "machine_id": [k[0] for k in decided],
            "timestamp": pd.DatetimeIndex([k[1] for k in decided]).astype(
                features["timestamp"].dtype
            ),
            "label": [float(r.label) for r in decided.values()],
        }
    )
    columns = [*features.columns, "label"]
    found = [features.merge(wanted, on=_KEY, how="inner")[columns]]
    rest = wanted.merge(features[_KEY], on=_KEY, how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
    if len(rest):
        from_lake, why = _rows_from_lake(config, home, rest, list(features.columns))
        found.extend(from_lake)
        for key, reason in why.items():
            for r in groups[key]:
                skipped[r.id] = reason
    found = [f for f in found if len(f)] or found[
        :1
    ]  # no empty frames in concat (their dtypes would leak)
    rows = pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]
    rows = rows.sort_values(["timestamp", "machine_id"], ignore_index=True)
    got = set(zip(rows["machine_id"], rows["timestamp"], strict=True))
    ids = sorted(r.id for key, rs in groups.items() if key in got for r in rs)
    return FeedbackLabels(rows=rows, ids=tuple(ids), skipped=skipped, cutoff=cutoff)


def _rows_from_lake(
    config: PlantConfig,
    home: FactoryHome,
    wanted: pd.DataFrame,
    columns: list[str],
) -> tuple[list[pd.DataFrame], dict[tuple[str, pd.Timestamp], str]]:
    """Feature rows outside the window, from their day's partition when the day passed the contract."""
    lake = Lake(home, config.plant_id)
    readings = ReadingsStore(home, config.plant_id)
    frames, why = [], {}
    wanted = wanted.assign(_day=[feature_day(t) for t in wanted["timestamp"]])
    for day, part in wanted.groupby("_day", sort=True):
        keys = list(zip(part["machine_id"], part["timestamp"], strict=True))
        if day not in readings.passed_days(day, day):
            why.update(
                dict.fromkeys(keys, f"its feature row's day {day} did not pass the data contract")
            )
            continue
        if not lake.exists(FEATURES, day):
            why.update(dict.fromkeys(keys, f"no feature partition for {day} in the lake"))
            continue
        feats = lake.read(FEATURES, day)
        if set(feats.columns) != set(columns):
            why.update(
                dict.fromkeys(
                    keys,
                    f"the feature partition of {day} has other columns than the training "
                    "window (feature spec changed); rebuild that day's features",
                )
            )
            continue
        feats = feats[columns]
        feats = feats.assign(timestamp=feats["timestamp"].astype(part["timestamp"].dtype))
        hit = feats.merge(part[[*_KEY, "label"]], on=_KEY, how="inner")
        frames.append(hit[[*columns, "label"]])
        got = set(zip(hit["machine_id"], hit["timestamp"], strict=True))
        why.update(
            {
                k: f"no feature row for machine {k[0]} at {k[1].isoformat()} in the partition of {day}"
                for k in keys
                if k not in got
            }
        )
    return frames, why


def id_ranges(ids: tuple[int, ...] | list[int], limit: int = 4000) -> str:
    """Feedback ids as compact text (`1-5,9,12-14`), cut at `limit` characters with the count left out."""
    ordered = sorted(set(ids))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    text = ",".join(parts)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(",", 1)[0]
    return f"{cut},…(+{len(parts) - cut.count(',') - 1} more ranges)"


def mark_used(home: FactoryHome, plant_id: str, ids: tuple[int, ...], version: int) -> int:
    """Mark the feedback a registered version's training set used as consumed by that version."""
    if not ids:
        return 0
    store = FeedbackStore.for_home(home)
    try:
        return store.mark_consumed(plant_id, ids, version)
    finally:
        store.close()

"""The ingest stage: a historian export -> source adapter -> data contract -> lake + quarantine.

Used the same way by the CLI (`factory-mlops ingest`), the Dagster assets and the landing-zone
sensor. Accounting is per *record of the file* (a line of a CSV, a row of a Parquet file, one
(time, machine, tag) record of a long export): `rows_received == rows_accepted + rows_quarantined`
always holds, and every quarantined record keeps its reason and its row number in the file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.contracts import (
    DETAIL,
    DUPLICATE_ROW,
    LABEL,
    LABEL_CONFLICT,
    REASON,
    ROW_NUMBER,
    ContractFailure,
    ContractResult,
    Status,
    apply_severity,
    batch_stats,
    batch_status,
    check_accounting,
    quarantine_whole_batch,
    validate_readings,
)
from factory_mlops.fileio import atomic_write_text
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore, SourceManifest, file_sha256, source_key
from factory_mlops.pipeline._contract_audit import note_contract_version
from factory_mlops.sources import SourceBatch, peek_days, read_source

EVENT_COLUMNS = [
    "event_time",
    "reported_at",
    "machine_id",
    "event",
    "failure_type",
    "downtime_hours",
]


@dataclass(frozen=True)
class IngestReport:
    """What ingesting one file did: counts per record of the file, reasons, failures, days."""

    plant_id: str
    path: str
    source_key: str
    sha256: str
    rows_received: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int]
    failures: list[ContractFailure]
    days: list[dt.date]
    label_events: int
    contract_version: str
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_accounting(
            f"ingest of {self.path}",
            self.rows_received,
            self.rows_accepted,
            self.rows_quarantined,
            self.reasons,
        )

    @property
    def passed(self) -> bool:
        """No error-severity rule failed: the file's rows flow downstream."""
        return not any(f.severity == "error" for f in self.failures)

    @property
    def status(self) -> Status:
        """`rejected` (blocked, or nothing accepted), `accepted` (every record), else `partially_accepted`."""
        return batch_status(self.passed, self.rows_accepted, self.rows_quarantined)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plant_id": self.plant_id,
            "file": self.path,
            "source_key": self.source_key,
            "sha256": self.sha256,
            "status": self.status,
            "passed": self.passed,
            "rows_received": int(self.rows_received),
            "rows_accepted": int(self.rows_accepted),
            "rows_quarantined": int(self.rows_quarantined),
            "reasons": {str(k): int(v) for k, v in self.reasons.items()},
            "failures": [f.to_dict() for f in self.failures],
            "days": [d.isoformat() for d in self.days],
            "label_events": int(self.label_events),
            "contract_version": self.contract_version,
        }


# ---- helpers ---------------------------------------------------------------------------------
def _file_arrival(path: Path) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(os.stat(path).st_mtime, unit="s", tz="UTC")
    except OSError:
        return None


def _history(
    manifests: list[SourceManifest], config: PlantConfig, key: str, before: pd.Timestamp | None
) -> list[dict[str, Any]]:
    """Per-batch stats of the most recent passed sources that end before this batch starts."""
    if before is None:
        return []
    first_day = before.date()
    past = [
        m
        for m in manifests
        if m.key != key and m.passed and m.days and m.days[-1] < first_day and m.report.get("stats")
    ]
    past.sort(key=lambda m: m.days[-1])
    horizon = first_day - dt.timedelta(days=config.contract.bands.history_days)
    return [m.report["stats"] for m in past if m.days[-1] >= horizon]


def _first_time(frame: pd.DataFrame) -> pd.Timestamp | None:
    if "timestamp" not in frame.columns or frame.empty:
        return None
    ts = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601", errors="coerce")
    first = ts.min()
    return None if pd.isna(first) else first


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_time": pd.Series(dtype="datetime64[ns, UTC]"),
            "reported_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "machine_id": pd.Series(dtype=object),
            "event": pd.Series(dtype=object),
            "failure_type": pd.Series(dtype=object),
            "downtime_hours": pd.Series(dtype=float),
        }
    )


def derive_label_events(accepted: pd.DataFrame, config: PlantConfig) -> pd.DataFrame:
    """Failure events from the labels of accepted rows (label column or run-to-failure units).

    `label_column`: every row labelled 1 is a failure of its machine at its timestamp.
    `run_to_failure`: every machine's last accepted reading in the file is its failure.
    Events are reported `source.labels.report_delay_hours` after they happen.
    """
    kind = config.source.labels.kind
    if accepted.empty or kind in ("event_log", "none"):
        return _empty_events()
    if kind == "label_column":
        if "label" not in accepted.columns:
            return _empty_events()
        hits = accepted.loc[accepted["label"] == 1.0, ["timestamp", "machine_id"]]
        failure_type = "labelled"
    else:  # run_to_failure
        hits = accepted.loc[
            accepted.groupby("machine_id", sort=True)["timestamp"].idxmax(),
            ["timestamp", "machine_id"],
        ]
        failure_type = "run_to_failure"
    delay = pd.Timedelta(hours=config.source.labels.report_delay_hours)
    events = pd.DataFrame(
        {
            "event_time": hits["timestamp"].to_numpy(),
            "reported_at": (hits["timestamp"] + delay).to_numpy(),
            "machine_id": hits["machine_id"].astype(str).to_numpy(),
            "event": "failure",
            "failure_type": failure_type,
            "downtime_hours": 0.0,
        }
    )
    events["event_time"] = pd.to_datetime(events["event_time"], utc=True)
    events["reported_at"] = pd.to_datetime(events["reported_at"], utc=True)
    return events.sort_values(["event_time", "machine_id"], ignore_index=True)


@dataclass(frozen=True)
class _Overlap:
    """Accepted rows another ingested file already holds (same timestamp and machine_id).

    `mask` flags them over `accepted`, `other` names the other file's source key per row, and
    `theirs` holds the other file's label per row (NaN where it has none); `conflict` flags the
    overlapping rows whose labels differ (both labelled, different values).
    """

    mask: np.ndarray
    other: np.ndarray
    theirs: np.ndarray
    conflict: np.ndarray


def _cross_source_duplicates(
    store: ReadingsStore, manifests: list[SourceManifest], key: str, accepted: pd.DataFrame
) -> _Overlap:
    """Accepted rows whose (timestamp, machine_id) another ingested file already holds, and the
    ones among them whose label disagrees with that file's."""
    mask = np.zeros(len(accepted), dtype=bool)
    other = np.full(len(accepted), "", dtype=object)
    theirs_label = np.full(len(accepted), np.nan)
    if accepted.empty:
        return _Overlap(mask, other, theirs_label, mask.copy())
    t_ns = accepted["timestamp"].array.asi8
    days = accepted["timestamp"].dt.date.to_numpy()
    by_day: dict[dt.date, list[SourceManifest]] = {}
    for m in manifests:
        for d in m.days:
            by_day.setdefault(d, []).append(m)
    for d in sorted(set(days)):
        for m in by_day.get(d, []):
            if m.key == key:
                continue
            path = store.piece_path(d, m.key)
            if not path.exists():
                continue
            theirs = pd.read_parquet(path).drop_duplicates(["timestamp", "machine_id"])
            their_keys = pd.MultiIndex.from_arrays(
                [theirs["timestamp"].array.asi8, theirs["machine_id"].astype(str)]
            )
            sel = np.flatnonzero(days == d)
            mine = pd.MultiIndex.from_arrays(
                [t_ns[sel], accepted["machine_id"].to_numpy()[sel].astype(str)]
            )
            hit = mine.isin(their_keys) & ~mask[sel]
            mask[sel[hit]] = True
            other[sel[hit]] = m.key
            if LABEL in theirs.columns and hit.any():
                where = their_keys.get_indexer(mine[hit])
                theirs_label[sel[hit]] = pd.to_numeric(theirs[LABEL], errors="coerce").to_numpy(
                    dtype=np.float64
                )[where]
    conflict = np.zeros(len(accepted), dtype=bool)
    if LABEL in accepted.columns:
        mine_label = pd.to_numeric(accepted[LABEL], errors="coerce").to_numpy(dtype=np.float64)
        conflict = (
            mask & ~np.isnan(mine_label) & ~np.isnan(theirs_label) & (mine_label != theirs_label)
        )
    return _Overlap(mask, other, theirs_label, conflict)


def _label_conflict_failure(
    accepted: pd.DataFrame, overlap: _Overlap, path: Path, manifests: list[SourceManifest]
) -> ContractFailure:
    """The `label_conflict` finding: how many rows, and the first ones by machine and time."""
    paths = {m.key: m.path for m in manifests}
    idx = np.flatnonzero(overlap.conflict)
    mine = pd.to_numeric(accepted[LABEL], errors="coerce").to_numpy(dtype=np.float64)
    examples = "; ".join(
        f"{accepted['machine_id'].iloc[i]} at {accepted['timestamp'].iloc[i].isoformat()}: "
        f"label {mine[i]:g} in {path.name} vs {overlap.theirs[i]:g} in "
        f"{Path(paths.get(overlap.other[i], overlap.other[i])).name}"
        for i in idx[:3]
    )
    return ContractFailure(
        rule="label_conflict",
        severity="error",
        message=(
            f"{len(idx)} rows of {path} overlap rows already ingested from "
            f"{sorted({Path(paths.get(o, o)).name for o in overlap.other[idx]})} with a different "
            f"label, e.g. {examples}. The lake does not pick one by file order: the rows are "
            f"quarantined as {LABEL_CONFLICT} and the file is blocked. Correct the wrong export "
            "(write it over the old one and ingest it again), or set "
            "contract.severity.label_conflict: warning to keep the labels already ingested"
        ),
        value=float(len(idx)),
        threshold=None,
    )


def _positions_of(frame: pd.DataFrame, candidates: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """Frame positions (among `candidates`) of `rows`, matched on (timestamp, machine_id)."""
    cand_ts = pd.to_datetime(
        frame["timestamp"].iloc[candidates], utc=True, format="ISO8601", errors="coerce"
    )
    lookup = pd.DataFrame(
        {
            "t": cand_ts.array.asi8,
            "m": frame["machine_id"].iloc[candidates].astype(str).to_numpy(),
            "pos": candidates,
        }
    ).drop_duplicates(["t", "m"])
    want = pd.DataFrame(
        {"t": rows["timestamp"].array.asi8, "m": rows["machine_id"].astype(str).to_numpy()}
    )
    merged = want.merge(lookup, on=["t", "m"], how="left")
    if merged["pos"].isna().any():
        raise AssertionError(
            "internal ingest error: an accepted row has no source row; please report it"
        )
    return merged["pos"].to_numpy(dtype=np.int64)


# ---- the stage -------------------------------------------------------------------------------
def ingest_file(
    config: PlantConfig,
    home: FactoryHome,
    path: str | Path,
    *,
    now: pd.Timestamp | None = None,
) -> IngestReport:
    """Read, validate and store one historian export of `config`'s plant.

    Rows that pass go to the lake (one piece per UTC day, replacing what this file wrote before),
    the rest to the plant's quarantine with a reason per record; a file that cannot be read at all
    is quarantined whole. Rows another ingested file already holds are quarantined as
    `duplicate_row`, so the same data never enters the lake twice.

    Args:
        config: The plant; its `source` block says how to read the file, `contract` what to accept.
        home: The factory_mlops home holding the lake and the quarantine.
        path: The file (CSV or Parquet as configured).
        now: Reference instant for "timestamp in the future" (default: wall clock).

    Returns:
        An `IngestReport`; `status` is `rejected` when the file is blocked or nothing was accepted.
    """
    path = Path(path)
    note_contract_version(config, home)
    store = ReadingsStore(home, config.plant_id)
    key = source_key(path)
    batch: SourceBatch = read_source(path, config)
    sha = batch.sha256 or (file_sha256(path) if path.is_file() else "")
    failures: list[ContractFailure]
    manifests = store.manifests()  # read once: history and cross-file duplicates both need them
    history = (
        _history(manifests, config, key, _first_time(batch.frame))
        if batch.file_error is None
        else []
    )

    conflict_days: set[dt.date] = set()  # days a label conflict blocks (no rows of ours there)
    if batch.file_error is not None:
        reason, detail = batch.file_error
        where = detail if detail.startswith(f"{path}:") else f"{path}: {detail}"
        result: ContractResult = quarantine_whole_batch(
            None, reason, where, config, rows_received=batch.records_received
        )
        qframe = result.quarantined
        reasons = dict(result.reasons)
        accepted = result.accepted
        failures = list(result.failures)
        n_q = result.rows_quarantined
    else:
        result = validate_readings(
            batch.frame, config, now=now, arrival=_file_arrival(path), history=history
        )
        accepted = result.accepted
        failures = list(result.failures)
        n_frame = len(batch.frame)
        # frame row -> (reason, detail) of the contract's quarantine
        q = result.quarantined
        q_pos = (
            q[ROW_NUMBER].to_numpy(dtype=np.int64) - 1 if len(q) else np.array([], dtype=np.int64)
        )
        row_reason = np.full(n_frame, None, dtype=object)
        row_detail = np.full(n_frame, None, dtype=object)
        row_bad = np.zeros(n_frame, dtype=bool)
        row_bad[q_pos] = True
        row_reason[q_pos] = q[REASON].to_numpy(dtype=object)
        row_detail[q_pos] = q[DETAIL].to_numpy(dtype=object)

        overlap = _cross_source_duplicates(store, manifests, key, accepted)
        dup_mask, dup_other = overlap.mask, overlap.other
        if dup_mask.any():
            accepted_pos = np.setdiff1d(np.arange(n_frame), q_pos)
            pos = _positions_of(batch.frame, accepted_pos, accepted[dup_mask])
            row_bad[pos] = True
            conflict = overlap.conflict[dup_mask]
            row_reason[pos] = np.where(conflict, LABEL_CONFLICT, DUPLICATE_ROW)
            mine_label = (
                pd.to_numeric(accepted[LABEL], errors="coerce").to_numpy(dtype=np.float64)[dup_mask]
                if LABEL in accepted.columns
                else np.full(int(dup_mask.sum()), np.nan)
            )
            row_detail[pos] = [
                f"{LABEL_CONFLICT}: label {lab:g} here, {their:g} in file '{o}' for the same "
                "timestamp and machine_id"
                if c
                else f"{DUPLICATE_ROW}: same timestamp and machine_id already ingested from file '{o}'"
                for o, c, lab, their in zip(
                    dup_other[dup_mask],
                    conflict,
                    mine_label,
                    overlap.theirs[dup_mask],
                    strict=True,
                )
            ]
            if overlap.conflict.any():
                failures.append(_label_conflict_failure(accepted, overlap, path, manifests))
                conflict_days = set(accepted["timestamp"][overlap.conflict].dt.date)
            plain = dup_mask & ~overlap.conflict
            accepted = accepted[~dup_mask].reset_index(drop=True)
            if plain.any():
                failures.append(
                    ContractFailure(
                        rule="duplicate_of_other_file",
                        severity="warning",
                        message=(
                            f"{int(plain.sum())} rows were already ingested from other file(s) "
                            f"{sorted(set(dup_other[plain]))}; they were quarantined as duplicate_row. To "
                            "correct a file, write the corrected export over the old one (same path) and "
                            "ingest it again; otherwise remove the copy"
                        ),
                        value=float(plain.sum()),
                        threshold=None,
                    )
                )

        # records of the file -> their frame row's fate
        rec_rows = batch.record_frame_row
        rec_bad = row_bad[rec_rows]
        bad_rows = rec_rows[rec_bad]
        q_frame = batch.frame.iloc[bad_rows].reset_index(drop=True)
        q_frame[REASON] = row_reason[bad_rows]
        q_frame[DETAIL] = row_detail[bad_rows]
        q_frame[ROW_NUMBER] = batch.record_row_numbers[rec_bad]
        qframe = (
            pd.concat([batch.rejected, q_frame], ignore_index=True)
            if len(batch.rejected)
            else q_frame
        )
        qframe = qframe.sort_values(ROW_NUMBER, kind="stable", ignore_index=True)
        counts = qframe[REASON].value_counts() if len(qframe) else pd.Series(dtype=int)
        reasons = {
            str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        }
        n_q = len(qframe)
        # The adapter's rejects count toward the quarantine rate too.
        if batch.records_received and len(batch.rejected):
            rate = n_q / batch.records_received
            limit = config.contract.max_quarantine_rate
            if rate > limit and not any(f.rule == "quarantine_rate" for f in failures):
                failures.append(
                    ContractFailure(
                        rule="quarantine_rate",
                        severity="error",
                        message=(
                            f"{n_q} of {batch.records_received} records ({100 * rate:.1f}%) were quarantined, above "
                            f"contract.max_quarantine_rate {100 * limit:.1f}%; top reasons: "
                            f"{', '.join(f'{r} ({n})' for r, n in list(reasons.items())[:5])}"
                        ),
                        value=float(rate),
                        threshold=float(limit),
                    )
                )
        # contract.severity also governs the rules checked here (the contract's own are already
        # graded; grading twice changes nothing).
        failures = apply_severity(failures, config.contract.severity)

    n_recv = batch.records_received
    n_acc = n_recv - n_q
    passed = not any(f.severity == "error" for f in failures)
    events = derive_label_events(accepted, config) if passed else _empty_events()
    days = sorted(set(accepted["timestamp"].dt.date)) if len(accepted) else []
    stats = batch_stats(result, config) if batch.file_error is None else {}
    report = IngestReport(
        plant_id=config.plant_id,
        path=str(path),
        source_key=key,
        sha256=sha,
        rows_received=n_recv,
        rows_accepted=n_acc,
        rows_quarantined=n_q,
        reasons=reasons,
        failures=failures,
        days=days,
        label_events=len(events),
        contract_version=config.contract_version(),
        stats=stats,
    )
    store.replace_source(
        SourceManifest(
            key=key,
            path=str(path),
            sha256=sha,
            # a day with a label conflict lists this source too, so that its verdict blocks the
            # day (the other file's label is not taken by file order)
            days=tuple(sorted(set(days) | conflict_days)),
            passed=passed,
            report={**report.to_dict(), "stats": stats},
        ),
        accepted,
        qframe,
        events,
    )
    return report


# ---- the landing zone ------------------------------------------------------------------------
def landing_files(config: PlantConfig, home: FactoryHome) -> list[Path]:
    """Readings files in `landing/<plant>/readings/` matching `source.readings.pattern`."""
    folder = home.landing(config.plant_id, "readings")
    if not folder.exists():
        return []
    return sorted(
        p
        for p in folder.glob(config.source.readings.pattern)
        if p.is_file() and not p.name.startswith(".")
    )


class _LandingIndex:
    """sha256 and covered days of landing files, cached by (path, size, mtime) so that a sensor
    ticking every minute does not re-read a year of exports."""

    def __init__(self, config: PlantConfig, home: FactoryHome) -> None:
        self.config = config
        self.file = home.lake(config.plant_id, "_index") / "landing.json"
        try:
            self.cache: dict[str, dict[str, Any]] = json.loads(
                self.file.read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            self.cache = {}
        self.changed = False

    def _entry(self, path: Path) -> dict[str, Any]:
        st = path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        hit = self.cache.get(str(path))
        if hit is None or hit["stamp"] != stamp:
            hit = self.cache[str(path)] = {"stamp": stamp}
            self.changed = True
        return hit

    def sha256(self, path: Path) -> str:
        entry = self._entry(path)
        if "sha256" not in entry:
            entry["sha256"] = file_sha256(path)
            self.changed = True
        return str(entry["sha256"])

    def days(self, path: Path) -> list[dt.date]:
        entry = self._entry(path)
        if "days" not in entry:
            entry["days"] = [d.isoformat() for d in peek_days(path, self.config)]
            self.changed = True
        return [dt.date.fromisoformat(d) for d in entry["days"]]

    def save(self) -> None:
        if self.changed:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.file, json.dumps(self.cache))
            self.changed = False


def landing_days(
    config: PlantConfig, home: FactoryHome, paths: Iterable[Path]
) -> dict[Path, list[dt.date]]:
    """UTC days each landing file covers (cached by path, size and mtime)."""
    index = _LandingIndex(config, home)
    out = {p: index.days(p) for p in paths}
    index.save()
    return out


def pending_landing_files(
    config: PlantConfig, home: FactoryHome
) -> dict[Path, tuple[str, list[dt.date]]]:
    """Landing files that are new, changed since ingested, or under an older contract: path ->
    (sha256, UTC days covered). Checksums and days are cached by size and mtime."""
    index = _LandingIndex(config, home)
    store = ReadingsStore(home, config.plant_id)
    version = config.contract_version()
    out: dict[Path, tuple[str, list[dt.date]]] = {}
    for path in landing_files(config, home):
        sha = index.sha256(path)
        m = store.manifest(source_key(path))
        if m is None or m.sha256 != sha or m.report.get("contract_version") != version:
            out[path] = (sha, index.days(path))
    index.save()
    return out


def needs_ingest(config: PlantConfig, home: FactoryHome, path: Path) -> bool:
    """True when the file is new, changed since it was ingested, or the contract changed."""
    m = ReadingsStore(home, config.plant_id).manifest(source_key(path))
    if m is None:
        return True
    if m.report.get("contract_version") != config.contract_version():
        return True
    index = _LandingIndex(config, home)
    sha = index.sha256(path)
    index.save()
    return m.sha256 != sha


@dataclass(frozen=True)
class DayIngest:
    """The ingest reports of the files covering some days, and each day's status afterwards."""

    reports: list[IngestReport]
    day_status: dict[dt.date, dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(s["passed"] for s in self.day_status.values())


def ingest_days(
    config: PlantConfig,
    home: FactoryHome,
    days: Sequence[dt.date],
    *,
    now: pd.Timestamp | None = None,
    force: bool = False,
) -> DayIngest:
    """Ingest every landing file covering one of `days` that is new or changed (all with `force`)."""
    wanted = set(days)
    files = landing_files(config, home)
    covering = [p for p, ds in landing_days(config, home, files).items() if wanted & set(ds)]
    reports = [
        ingest_file(config, home, p, now=now)
        for p in covering
        if force or needs_ingest(config, home, p)
    ]
    store = ReadingsStore(home, config.plant_id)
    return DayIngest(reports=reports, day_status={d: store.day_status(d) for d in sorted(wanted)})

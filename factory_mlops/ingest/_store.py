"""Validated readings in the lake, kept per source file so that re-ingesting a file is idempotent.

Layout under `<home>/lake/<plant>/`::

    validated_readings/<YYYY-MM-DD>/<source_key>.parquet   accepted rows of one file for one UTC day
    sources/<source_key>.json                               manifest: sha256, days, counts, report
    derived_events/<source_key>.parquet                     failure events derived from the file's labels

and `<home>/quarantine/<plant>/<source_key>.parquet` for the file's rejected rows.

A source is identified by its path (`source_key`: file name + folder hash): ingesting a file again
replaces every piece it wrote before (a corrected export is written over the old one), so the same
file never yields duplicate rows, and rows another file already brought are quarantined as
duplicates.
The manifest is written last: a day's readings are the pieces of the sources whose manifest lists
that day, and a day is usable downstream only when every one of those sources passed its contract.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from factory_mlops.fileio import atomic_path, atomic_write_text
from factory_mlops.home import FactoryHome

READINGS_TABLE = "validated_readings"
SOURCES_TABLE = "sources"
DERIVED_EVENTS_TABLE = "derived_events"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def source_key(path: str | Path) -> str:
    """The key a file is stored under: its name (unsafe characters replaced by `_`) and a short hash
    of its folder, e.g. `2026-06-01.csv.3fa2b1c9`.

    The same path is the same source (a corrected export written over the old one replaces it);
    two exports with the same name in different folders are different sources, never one
    silently replacing the other.
    """
    p = Path(path).expanduser().resolve()
    name = _UNSAFE.sub("_", p.name).strip("._") or "source"
    folder = hashlib.sha256(str(p.parent).encode()).hexdigest()[:8]
    return f"{name}.{folder}"


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _atomic_json(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


@dataclass(frozen=True)
class SourceManifest:
    """What the lake holds of one ingested file."""

    key: str
    path: str
    sha256: str
    days: tuple[dt.date, ...]
    passed: bool
    report: dict[str, Any]

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> SourceManifest:
        return cls(
            key=payload["key"],
            path=payload["path"],
            sha256=payload["sha256"],
            days=tuple(dt.date.fromisoformat(d) for d in payload["days"]),
            passed=bool(payload["passed"]),
            report=payload.get("report", {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": self.path,
            "sha256": self.sha256,
            "days": [d.isoformat() for d in self.days],
            "passed": self.passed,
            "report": self.report,
        }


class ReadingsStore:
    """The validated readings of one plant, stored per (day, source file)."""

    def __init__(self, home: FactoryHome, plant_id: str) -> None:
        self.home = home
        self.plant_id = plant_id

    # ---- paths ---------------------------------------------------------------------------------
    @property
    def readings_dir(self) -> Path:
        return self.home.lake(self.plant_id, READINGS_TABLE)

    def piece_path(self, day: dt.date, key: str) -> Path:
        return self.readings_dir / day.isoformat() / f"{key}.parquet"

    def manifest_path(self, key: str) -> Path:
        return self.home.lake(self.plant_id, SOURCES_TABLE) / f"{key}.json"

    def quarantine_path(self, key: str) -> Path:
        return self.home.quarantine(self.plant_id) / f"{key}.parquet"

    def events_path(self, key: str) -> Path:
        return self.home.lake(self.plant_id, DERIVED_EVENTS_TABLE) / f"{key}.parquet"

    # ---- manifests -------------------------------------------------------------------------------
    def manifest(self, key: str) -> SourceManifest | None:
        path = self.manifest_path(key)
        if not path.exists():
            return None
        return SourceManifest.from_json(json.loads(path.read_text(encoding="utf-8")))

    def manifests(self) -> list[SourceManifest]:
        folder = self.home.lake(self.plant_id, SOURCES_TABLE)
        if not folder.exists():
            return []
        return [
            SourceManifest.from_json(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.json"))
        ]

    def sources_by_day(self) -> dict[dt.date, list[SourceManifest]]:
        out: dict[dt.date, list[SourceManifest]] = {}
        for m in self.manifests():
            for d in m.days:
                out.setdefault(d, []).append(m)
        return dict(sorted(out.items()))

    def days(self) -> list[dt.date]:
        """Every day some ingested source has accepted rows for."""
        return list(self.sources_by_day())

    def passed_days(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[dt.date]:
        """Days whose every source passed the contract (blocked days stay out of features)."""
        return [
            d
            for d, ms in self.sources_by_day().items()
            if all(m.passed for m in ms)
            and (start is None or d >= start)
            and (end is None or d <= end)
        ]

    def day_status(self, day: dt.date) -> dict[str, Any]:
        """`{"day", "passed", "sources": [{key, sha256, passed, status}]}`; passed is False without sources."""
        ms = self.sources_by_day().get(day, [])
        return {
            "day": day.isoformat(),
            "passed": bool(ms) and all(m.passed for m in ms),
            "sources": [
                {
                    "key": m.key,
                    "path": m.path,
                    "sha256": m.sha256,
                    "passed": m.passed,
                    "status": m.report.get("status"),
                }
                for m in ms
            ],
        }

    # ---- reading ---------------------------------------------------------------------------------
    def read_day(self, day: dt.date, *, exclude: str | None = None) -> pd.DataFrame:
        """Accepted rows of `day` from every source that lists it (optionally but one source)."""
        frames = []
        for m in self.sources_by_day().get(day, []):
            if m.key == exclude:
                continue
            path = self.piece_path(day, m.key)
            if path.exists():
                frames.append(pd.read_parquet(path))
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["timestamp", "machine_id"], kind="stable", ignore_index=True)

    def read_days(self, days: list[dt.date]) -> pd.DataFrame:
        frames = [f for f in (self.read_day(d) for d in days) if len(f)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def events(self) -> pd.DataFrame:
        """Failure events derived from the labels of every *passed* source."""
        frames = []
        for m in self.manifests():
            path = self.events_path(m.key)
            if m.passed and path.exists():
                frames.append(pd.read_parquet(path))
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ---- writing ---------------------------------------------------------------------------------
    def replace_source(
        self,
        manifest: SourceManifest,
        accepted: pd.DataFrame,
        quarantined: pd.DataFrame,
        events: pd.DataFrame | None,
    ) -> None:
        """Replace everything stored for `manifest.key` by this ingest of the file.

        Pieces of days the file no longer covers are removed; the manifest is written last.
        """
        key = manifest.key
        old = self.manifest(key)
        # The manifest goes first so that a crash mid-way never leaves a manifest naming pieces of
        # two different versions of the file: readers see no source until the new manifest lands.
        self.manifest_path(key).unlink(missing_ok=True)
        if old is not None:
            for d in set(old.days) - set(manifest.days):
                self.piece_path(d, key).unlink(missing_ok=True)
                try:
                    self.piece_path(d, key).parent.rmdir()
                except OSError:
                    pass
        if len(accepted):
            day_of = accepted["timestamp"].dt.tz_convert("UTC").dt.date
            for d, part in accepted.groupby(day_of, sort=True):
                _atomic_parquet(part.reset_index(drop=True), self.piece_path(d, key))
        qpath = self.quarantine_path(key)
        if len(quarantined):
            _atomic_parquet(quarantined.astype(str), qpath)
        else:
            qpath.unlink(missing_ok=True)
        epath = self.events_path(key)
        if events is not None and len(events):
            _atomic_parquet(events, epath)
        else:
            epath.unlink(missing_ok=True)
        _atomic_json(manifest.to_json(), self.manifest_path(key))

    def remove_source(self, key: str) -> bool:
        """Forget a source entirely (its pieces, quarantine, events and manifest)."""
        m = self.manifest(key)
        if m is None:
            return False
        self.manifest_path(key).unlink(missing_ok=True)
        for d in m.days:
            self.piece_path(d, key).unlink(missing_ok=True)
        self.quarantine_path(key).unlink(missing_ok=True)
        self.events_path(key).unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        """Remove every validated reading, manifest, derived event and quarantine of the plant."""
        for folder in (
            self.readings_dir,
            self.home.lake(self.plant_id, SOURCES_TABLE),
            self.home.lake(self.plant_id, DERIVED_EVENTS_TABLE),
            self.home.quarantine(self.plant_id),
        ):
            shutil.rmtree(folder, ignore_errors=True)

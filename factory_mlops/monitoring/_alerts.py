"""Alert records for a human: one JSON line per (plant, layer, day) warning or critical result."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from factory_mlops.home import FactoryHome


@dataclass(frozen=True)
class Alert:
    """One monitoring result a person should look at.

    Attributes:
        plant_id: the plant.
        layer: `integrity`, `drift`, `performance`, `control_chart` or `latency`.
        severity: `warning` or `critical`.
        day: the data day the result describes.
        reasons: the result in words (what, which value, against which limit).
        actions: what plant.yaml maps this severity to (`check_warn`, `alert`, `retrain`).
        model_version: the deployed model the result is about (0 if none).
        created_at: when the alert was written (UTC, ISO 8601).
    """

    plant_id: str
    layer: str
    severity: str
    day: str
    reasons: list[str]
    actions: list[str]
    model_version: int = 0
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    @property
    def key(self) -> str:
        return f"{self.layer}:{self.day}:{self.severity}"


class AlertLog:
    """Append-only JSONL of alerts per plant under `<home>/alerts/<plant>.jsonl`.

    Re-materialising a day does not duplicate its alert: an alert with the same layer, day and
    severity as one already written is skipped (`append` returns False).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_home(cls, home: FactoryHome) -> AlertLog:
        return cls(home.root / "alerts")

    def path(self, plant_id: str) -> Path:
        return self.root / f"{plant_id}.jsonl"

    @contextmanager
    def _locked(self, plant_id: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{plant_id}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def append(self, alert: Alert) -> bool:
        """Write `alert` unless the same (layer, day, severity) is already there."""
        if alert.severity not in ("warning", "critical"):
            raise ValueError(f"an alert is a warning or critical result, not {alert.severity!r}")
        with self._locked(alert.plant_id):
            if any(a.key == alert.key for a in self.read(alert.plant_id)):
                return False
            with open(self.path(alert.plant_id), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(alert), sort_keys=True) + "\n")
                fh.flush()
        return True

    def read(self, plant_id: str, *, since: str | None = None) -> list[Alert]:
        """The plant's alerts (optionally for days >= `since`, ISO date), oldest first."""
        path = self.path(plant_id)
        if not path.exists():
            return []
        out: list[Alert] = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{path}:{n}: not a JSON alert record ({exc}); fix or remove the line"
                ) from None
            a = Alert(**d)
            if since is None or a.day >= since:
                out.append(a)
        return out

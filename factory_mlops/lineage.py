"""Lineage recorded on every model version: the typed `Lineage` and the code version."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import factory_mlops


@lru_cache(maxsize=1)
def code_version() -> str:
    """`git:<commit>[-dirty]` when running from a git checkout, else `pkg:<version>`."""
    root = Path(factory_mlops.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"pkg:{factory_mlops.__version__}"
    return (
        f"git:{commit}{'-dirty' if dirty else ''}" if commit else f"pkg:{factory_mlops.__version__}"
    )


def _text(value: str | None) -> str | None:
    return value if value else None


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def _float(value: str | None) -> float | None:
    return float(value) if value else None


@dataclass(frozen=True)
class Lineage:
    """Where a registered version came from: written once at registration, parsed once on read.

    Stored as the version's string tags (and the run's), one tag per field of the same name;
    `to_tags` and `from_tags` are the only places that know the encoding. A field a version does
    not record (an older version, no champion before it, no labels known yet) is None, never a
    plausible default. Tags that are not fields (set by a plugin or a person) are kept in `extra`.

    Attributes:
        plant: The plant.
        training_data_sha256: SHA-256 of the training set (features and labels).
        training_window: ``start/end`` of the training data (ISO).
        holdout_window: ``start/end`` of the gate's holdout (ISO).
        data_through: Newest data the version may have used (ISO).
        labels_known_until: Rows whose outcome was not known by then were left out (ISO).
        code_version: `code_version()` of the code that trained it.
        feature_spec_hash: Hash of the feature spec (the edge checks it).
        contract_version: The plant's data-contract version.
        task: ``classification`` or ``rul``.
        alarm_threshold: Calibrated P(failure) (classification) or hours of RUL (rul) that alarm.
        threshold_method: How the threshold was chosen (``cost``, ``fixed``, ...).
        calibration: Calibration method.
        seed: LightGBM seed.
        params: Training parameters as JSON (cut at 4,000 characters).
        trigger: What asked for the retrain (``drift``, ``schedule``, ``initial``, ...).
        reason: Why, in words.
        actor: Who or what ran it (``system:pipeline``, ``person:<name>``).
        parent_version: The champion it was gated against; None for a first model.
        gate_decision: ``promoted`` or ``rejected``.
        gate_reasons: The gate's summary.
        gate_floors_failed: The floors it failed, in words ("" when it cleared them).
        dagster_run_id: The Dagster run that trained it (None outside Dagster).
        dagster_run_url: That run in the Dagster UI (`factory_mlops.links`).
        onnx_parity_max_abs_diff: Largest |LightGBM - ONNX| score difference on the holdout.
        feedback_labels_used: Operator labels in its training set.
        feedback_ids: Their ids, as ranges (``1-5,9``).
        feedback_until: Newest operator label used (ISO).
        template: The fleet template (equipment type) the plant's config extends; None without one.
        template_sha256: SHA-256 of that template file when the model was trained.
        bundle_sha256: SHA-256 of its edge bundle (set once the bundle is stored).
        extra: Any other tag of the version.
    """

    plant: str
    training_data_sha256: str | None = None
    training_window: str | None = None
    holdout_window: str | None = None
    data_through: str | None = None
    labels_known_until: str | None = None
    code_version: str | None = None
    feature_spec_hash: str | None = None
    contract_version: str | None = None
    task: str | None = None
    alarm_threshold: float | None = None
    threshold_method: str | None = None
    calibration: str | None = None
    seed: int | None = None
    params: str | None = None
    trigger: str | None = None
    reason: str | None = None
    actor: str | None = None
    parent_version: int | None = None
    gate_decision: str | None = None
    gate_reasons: str | None = None
    gate_floors_failed: str | None = None
    dagster_run_id: str | None = None
    dagster_run_url: str | None = None
    onnx_parity_max_abs_diff: float | None = None
    feedback_labels_used: int | None = None
    feedback_ids: str | None = None
    feedback_until: str | None = None
    template: str | None = None
    template_sha256: str | None = None
    bundle_sha256: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        """The gate promoted this version (it may have been rolled back since)."""
        return self.gate_decision == "promoted"

    def to_tags(self) -> dict[str, str]:
        """The tags to store: every recorded field as text (None is left out), then `extra`."""
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = repr(value) if isinstance(value, float) else str(value)
        for key, value in self.extra.items():
            if key in out:
                raise ValueError(f"lineage extra tag {key!r} shadows the field of that name")
            out[key] = value
        return out

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Lineage:
        """Parse a version's tags; a missing or empty tag is None (older versions lack some)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        for name in known:
            raw = tags.get(name)
            parse = _PARSERS.get(name, _text)
            try:
                kwargs[name] = parse(raw)
            except ValueError:
                raise ValueError(
                    f"lineage tag {name}={raw!r} is not a valid {parse.__name__.lstrip('_')}; "
                    "the registry entry was edited by hand or written by another tool"
                ) from None
        kwargs["plant"] = tags.get("plant", "")
        kwargs["extra"] = {k: v for k, v in tags.items() if k not in known}
        return cls(**kwargs)


_PARSERS: dict[str, Callable[[str | None], Any]] = {
    "alarm_threshold": _float,
    "onnx_parity_max_abs_diff": _float,
    "seed": _int,
    "parent_version": _int,
    "feedback_labels_used": _int,
}

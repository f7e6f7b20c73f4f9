"""Template changes in the audit log: each template's sha256 against the last one recorded.

The design: a template is a file under version control; what the product adds is the record of
which version of it was in force, by whom and why. `record_template_changes` appends one
`template_change` entry (plant: none) per template whose file sha256 differs from the last
recorded one (or that was never recorded), holding the sha256, the previous sha256, the keys that
changed against the recorded text, the plants that extend it, and the file's text itself (so a
later reader can see the old recipe without the repository). `template_statuses` compares without
writing: `recorded`, `changed` (not audited since the change) or `new` (never recorded).
`factory-mlops fleet templates check` exits 1 unless every template is `recorded` (for CI or a
deploy step); `fleet templates record --by --reason` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from factory_mlops.audit import AuditEntry, AuditLog
from factory_mlops.config import (
    Template,
    discover_plants,
    load_plant_config,
    read_plant_yaml,
    read_template,
)
from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.fleet._diff import changed_keys
from factory_mlops.home import FactoryHome

KIND = "template_change"


@dataclass(frozen=True)
class TemplateStatus:
    """One template now against its last audit record."""

    template: Template
    status: str  # "recorded" | "changed" | "new"
    last: AuditEntry | None  # the last template_change entry of this template
    changed: list[str] | None  # key paths changed since `last` (None when never recorded)
    plants: list[str]  # plant ids whose plant.yaml extends it

    @property
    def recorded_sha256(self) -> str | None:
        return str(self.last.details.get("sha256")) if self.last is not None else None

    def to_dict(self) -> dict[str, Any]:
        last = self.last
        return {
            "template": self.template.name,
            "path": str(self.template.path),
            "sha256": self.template.sha256,
            "status": self.status,
            "recorded_sha256": self.recorded_sha256,
            "recorded_seq": last.seq if last else None,
            "recorded_at": last.at if last else None,
            "recorded_by": last.actor if last else None,
            "changed_keys": self.changed,
            "plants": self.plants,
        }


def extending_plants(plants_dir: str | Path) -> dict[str, list[str]]:
    """Template name -> ids of the plants under `plants_dir` whose plant.yaml `extends` it."""
    out: dict[str, list[str]] = {}
    for plant_id, path in discover_plants(plants_dir).items():
        try:
            data = read_plant_yaml(path)
        except FactoryMLOpsError:
            continue  # an unreadable plant.yaml is reported by loading it, not here
        if isinstance(data, dict) and isinstance(data.get("extends"), str):
            out.setdefault(data["extends"], []).append(plant_id)
    return out


def _last_records(log: AuditLog) -> dict[str, AuditEntry]:
    out: dict[str, AuditEntry] = {}
    for entry in log.entries(kinds=KIND):
        name = entry.details.get("template")
        if isinstance(name, str):
            out[name] = entry
    return out


def _changed_since(entry: AuditEntry, template: Template) -> list[str]:
    text = entry.details.get("text")
    if not isinstance(text, str):
        return ["<the recorded entry holds no text to compare>"]
    try:
        old = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return ["<the recorded text is not YAML>"]
    return changed_keys(old, template.data)


def template_statuses(
    home: FactoryHome, templates: dict[str, Path], plants_dir: str | Path
) -> list[TemplateStatus]:
    """Each template (name -> file, e.g. `discover_templates(...)`) against the home's audit log."""
    records = _last_records(AuditLog.for_home(home))
    users = extending_plants(plants_dir)
    out = []
    for name, path in templates.items():
        template = read_template(path)
        last = records.get(name)
        if last is None:
            status, changed = "new", None
        elif last.details.get("sha256") == template.sha256:
            status, changed = "recorded", []
        else:
            status, changed = "changed", _changed_since(last, template)
        out.append(TemplateStatus(template, status, last, changed, sorted(users.get(name, []))))
    return out


def broken_plants(
    status: TemplateStatus, plants_dir: str | Path, fleet_dir: str | Path | None = None
) -> dict[str, str]:
    """Plant id -> the load error, for each plant extending the template that no longer loads."""
    out = {}
    for plant_id in status.plants:
        try:
            load_plant_config(Path(plants_dir) / plant_id / "plant.yaml", fleet_dir=fleet_dir)
        except FactoryMLOpsError as exc:
            out[plant_id] = str(exc)
    return out


def record_template_changes(
    home: FactoryHome,
    templates: dict[str, Path],
    plants_dir: str | Path,
    *,
    actor: str,
    reason: str,
    fleet_dir: str | Path | None = None,
) -> list[AuditEntry]:
    """Append a `template_change` entry for every template that is `new` or `changed`; return them.

    Templates already recorded at their current sha256 get nothing (re-running is a no-op). A
    template that breaks a plant extending it is refused (FactoryMLOpsError naming the plant and
    its error), and nothing is written: a recorded template is one every instance loads with.
    """
    if not reason.strip():
        raise FactoryMLOpsError(
            "a template change needs a reason for the audit log (--reason), e.g. the change request"
        )
    log = AuditLog.for_home(home)
    todo = [st for st in template_statuses(home, templates, plants_dir) if st.status != "recorded"]
    broken = {st.template.name: broken_plants(st, plants_dir, fleet_dir) for st in todo}
    if any(broken.values()):
        lines = [
            f"template {name} breaks plant {plant}: {err}"
            for name, plants in broken.items()
            for plant, err in plants.items()
        ]
        raise FactoryMLOpsError(
            "nothing recorded: fix the template or the plant first\n" + "\n".join(lines)
        )
    return [
        log.append(
            KIND,
            actor=actor,
            reason=reason,
            details={
                "template": st.template.name,
                "path": str(st.template.path),
                "sha256": st.template.sha256,
                "previous_sha256": st.recorded_sha256,
                "changed_keys": st.changed,
                "plants": st.plants,
                "text": st.template.text,
            },
        )
        for st in todo
    ]

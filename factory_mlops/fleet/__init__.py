"""The fleet: a plant's overrides against its equipment-type template, and template changes audited.

Templates themselves (`fleet/templates/<equipment_type>.yaml`, `extends:` and the merge) are read
by `factory_mlops.config`; this package compares and records them:

    diff = plant_template_diff("plants/cmapss_fd002/plant.yaml")
    [r.key for r in diff.of_kind("override")]          # what the plant changes of the recipe
    template_statuses(home, discover_templates(plants_dir), plants_dir)   # audited or not
    record_template_changes(home, templates, plants_dir, actor="person:j.doe", reason="CR-7")

No Dagster. See docs/fleet.md.
"""

from factory_mlops.fleet._audit import (
    KIND,
    TemplateStatus,
    extending_plants,
    record_template_changes,
    template_statuses,
)
from factory_mlops.fleet._cli import add_fleet_parser
from factory_mlops.fleet._diff import (
    DiffRow,
    Span,
    TemplateDiff,
    changed_keys,
    key_spans,
    key_string,
    plant_template_diff,
)

__all__ = [
    "KIND",
    "DiffRow",
    "Span",
    "TemplateDiff",
    "TemplateStatus",
    "add_fleet_parser",
    "changed_keys",
    "extending_plants",
    "key_spans",
    "key_string",
    "plant_template_diff",
    "record_template_changes",
    "template_statuses",
]

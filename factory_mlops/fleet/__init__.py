"""The fleet: a plant's overrides against its equipment-type template, and template changes audited.

Templates themselves (`fleet/templates/<equipment_type>.yaml`, `extends:` and the merge) are read
by `factory_mlops.config`; this package compares and records them:

    diff = plant_template_diff("plants/cmapss_fd002/plant.yaml")
    [r.key for r in diff.of_kind("override")]          # what the plant changes of the recipe
    template_statuses(home, discover_templates(plants_dir), plants_dir)   # audited or not
    record_template_changes(home, templates, plants_dir, actor="person:j.doe", reason="CR-7")
    fleet_scorecard(plants_dir, home)          # one PlantScorecard row per plant, read from the home

No Dagster. See docs/fleet.md.
"""

from factory_mlops.fleet._audit import (
    KIND,
    TemplateStatus,
    broken_plants,
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
from factory_mlops.fleet._scorecard import COLUMNS as SCORECARD_COLUMNS
from factory_mlops.fleet._scorecard import PlantScorecard, fleet_scorecard, plant_scorecard

__all__ = [
    "KIND",
    "SCORECARD_COLUMNS",
    "DiffRow",
    "PlantScorecard",
    "Span",
    "TemplateDiff",
    "TemplateStatus",
    "add_fleet_parser",
    "broken_plants",
    "changed_keys",
    "extending_plants",
    "fleet_scorecard",
    "key_spans",
    "key_string",
    "plant_scorecard",
    "plant_template_diff",
    "record_template_changes",
    "template_statuses",
]

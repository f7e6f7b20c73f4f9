"""Templates per equipment type: `fleet/templates/<equipment_type>.yaml` and `extends:` in plant.yaml.

A template holds the standard recipe of one equipment type (sensors and units, source, contract,
features, model, drift, retrain ...): any plant.yaml key except the instance's own (`plant_id`,
`extends`, `example`). A plant.yaml that says `extends: <equipment_type>` holds only its overrides;
the two are merged (`merge_onto_template`) and the result is validated like any plant.yaml.

Merge rules:
- mappings merge key by key, recursively (the plant's value wins at every leaf);
- lists replace: the plant's list is the whole list (`windows_minutes`, `machines`, `edge.nodes`,
  `simulation.events` ...);
- except `sensors`, which merge by `name`: a plant entry whose name is in the template overrides
  only the fields it states, a new name is appended (template order first); a template sensor
  cannot be removed by a plant (a plant without it is not an instance of that template);
- `null` is a value (e.g. `recency_half_life_days: null`), not a deletion;
- `equipment` defaults to the template's name.

Where templates are found (`template_dirs`): `$FACTORY_MLOPS_FLEET/templates` when that is set
(only there); otherwise `<plants folder>/../fleet/templates` (the repository layout:
`plants/<id>/plant.yaml` next to `fleet/templates/`), then the templates shipped in the installed
`fleet` package, so an installed product finds them without a checkout.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from factory_mlops.config._base import _IDENT
from factory_mlops.errors import PlantConfigError

FLEET_ENV = "FACTORY_MLOPS_FLEET"
"""A fleet folder (holding `templates/`) that replaces the default template search."""

KEYED_LISTS: dict[tuple[str, ...], str] = {("sensors",): "name"}
"""Lists that merge entry by entry on a key instead of being replaced: path -> key field."""

INSTANCE_KEYS = ("plant_id", "extends", "example", "source_path")
"""Keys only a plant.yaml may hold (a template stating one is refused)."""

#: Provenance: merged key path -> the file(s) the value there comes from.
Provenance = dict[tuple[str | int, ...], str]


@dataclass(frozen=True)
class Template:
    """One template file: its equipment type (the file stem), path, parsed mapping, the sha256 of
    its bytes and its text (both from the same read)."""

    name: str
    path: Path
    data: dict[str, Any]
    sha256: str
    text: str


def template_dirs(
    plants_dir: str | Path | None = None, fleet_dir: str | Path | None = None
) -> list[Path]:
    """The folders searched for `<equipment_type>.yaml`, in order (see the module docstring)."""
    explicit = fleet_dir if fleet_dir is not None else os.environ.get(FLEET_ENV)
    if explicit:
        return [Path(explicit).expanduser().resolve() / "templates"]
    out: list[Path] = []
    if plants_dir is not None:
        out.append(Path(plants_dir).resolve().parent / "fleet" / "templates")
    spec = importlib.util.find_spec("fleet")
    if spec is not None and spec.submodule_search_locations:
        out += [Path(root).resolve() / "templates" for root in spec.submodule_search_locations]
    seen: list[Path] = []
    for folder in out:
        if folder not in seen:
            seen.append(folder)
    return seen


def discover_templates(
    plants_dir: str | Path | None = None, fleet_dir: str | Path | None = None
) -> dict[str, Path]:
    """Equipment type -> template file, the first folder of `template_dirs` winning."""
    found: dict[str, Path] = {}
    for folder in template_dirs(plants_dir, fleet_dir):
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def read_template(path: str | Path) -> Template:
    """Read and check one template file (a mapping, no instance keys). Raises PlantConfigError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlantConfigError(f"{path}: cannot read template ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
        data = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PlantConfigError(f"{path}: template is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PlantConfigError(
            f"{path}: a template is a mapping of plant.yaml keys, got {type(data).__name__}"
        )
    stated = [k for k in INSTANCE_KEYS if k in data]
    if stated:
        raise PlantConfigError(
            f"{path}: {', '.join(stated)} belong(s) in each plant.yaml, not in a template; "
            "remove it from the template"
        )
    return Template(path.stem, path, data, hashlib.sha256(raw).hexdigest(), text)


def find_template(
    name: Any,
    *,
    plants_dir: str | Path | None = None,
    fleet_dir: str | Path | None = None,
    source: str = "plant.yaml",
) -> Template:
    """The template `name` (the value of `extends:` in `source`). Raises PlantConfigError."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise PlantConfigError(
            f"{source}: extends: expected an equipment type in snake_case (the name of a "
            f"fleet/templates/<equipment_type>.yaml), got {name!r}"
        )
    dirs = template_dirs(plants_dir, fleet_dir)
    for folder in dirs:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return read_template(path)
    known = sorted(discover_templates(plants_dir, fleet_dir))
    raise PlantConfigError(
        f"{source}: extends: no template {name!r}; searched {[str(d) for d in dirs]}; known "
        f"templates: {known}. Add fleet/templates/{name}.yaml, fix the name, or set "
        f"${FLEET_ENV} to a fleet folder holding templates/{name}.yaml"
    )


def _take(value: Any, path: tuple[str | int, ...], src: str, prov: Provenance) -> Any:
    prov[path] = src
    return copy.deepcopy(value)


def _keyed(items: list[Any], key: str, path: tuple[str | int, ...], src: str) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    where = ".".join(str(p) for p in path)
    for i, item in enumerate(items):
        if not isinstance(item, dict) or key not in item:
            raise PlantConfigError(
                f"{src}: {where}[{i}]: needs a {key!r} ({where} of a plant that extends a template "
                f"merge by {key}), got {item!r}"
            )
        if item[key] in out:
            raise PlantConfigError(f"{src}: {where}: {key} {item[key]!r} is given twice")
        out[item[key]] = item
    return out


def _merge(
    base: Any,
    over: Any,
    path: tuple[str | int, ...],
    srcs: tuple[str, str],
    prov: Provenance,
) -> Any:
    base_src, over_src = srcs
    if isinstance(base, dict) and isinstance(over, dict):
        prov[path] = f"{over_src} (merged onto {base_src})"
        out: dict[str, Any] = {}
        for k, v in base.items():
            out[k] = (
                _merge(v, over[k], (*path, k), srcs, prov)
                if k in over
                else _take(v, (*path, k), base_src, prov)
            )
        for k, v in over.items():
            if k not in base:
                out[k] = _take(v, (*path, k), over_src, prov)
        return out
    key = KEYED_LISTS.get(tuple(str(p) for p in path))
    if key is not None and isinstance(base, list) and isinstance(over, list):
        prov[path] = f"{over_src} (merged onto {base_src})"
        base_by = _keyed(base, key, path, base_src)
        over_by = _keyed(over, key, path, over_src)
        merged: list[Any] = []
        for name, item in base_by.items():
            i = len(merged)
            merged.append(
                _merge(item, over_by[name], (*path, i), srcs, prov)
                if name in over_by
                else _take(item, (*path, i), base_src, prov)
            )
        for name, item in over_by.items():
            if name not in base_by:
                merged.append(_take(item, (*path, len(merged)), over_src, prov))
        return merged
    return _take(over, path, over_src, prov)


def merge_onto_template(
    template: Template, plant: Mapping[str, Any], plant_source: str
) -> tuple[dict[str, Any], Provenance]:
    """The plant's mapping merged onto the template's (rules in the module docstring), without
    `extends`, and where each merged key path comes from."""
    prov: Provenance = {}
    overrides = {k: v for k, v in plant.items() if k != "extends"}
    merged = _merge(template.data, overrides, (), (str(template.path), plant_source), prov)
    if "equipment" not in merged:
        merged["equipment"] = template.name
        prov[("equipment",)] = f"{template.path} (its name)"
    return merged, prov


def provenance_of(prov: Provenance, loc: tuple[Any, ...]) -> str | None:
    """The file a validation error's key path comes from: the longest recorded prefix of `loc`."""
    for n in range(len(loc), 0, -1):
        if tuple(loc[:n]) in prov:
            return prov[tuple(loc[:n])]
    return None

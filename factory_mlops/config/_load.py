"""Reading plant.yaml: validation messages that name the key, loading and discovering plants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from factory_mlops.config._plant import PlantConfig
from factory_mlops.config._templates import (
    Provenance,
    Template,
    find_template,
    merge_onto_template,
    provenance_of,
)
from factory_mlops.errors import PlantConfigError


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def validation_lines(
    exc: ValidationError, where: Callable[[tuple[Any, ...]], str | None] | None = None
) -> list[str]:
    """One line per pydantic error of a YAML-backed model: the key path, what is wrong, the value given.

    Shared by every YAML file the library validates (plant.yaml, benchmark scenarios). `where`
    maps an error's key path to the file that set it (a plant merged onto its template); the line
    then ends with `[in <file>]`.
    """
    lines = []
    for err in exc.errors():
        key = _format_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            line = f"  {key}: unknown key (remove it or check its spelling)"
        elif not err["loc"]:  # a whole-file consistency rule: the input is the whole file
            line = f"  {msg}"
        elif err["type"] == "missing":
            line = f"  {key}: required key is missing"
        else:
            line = f"  {key}: {msg} (got {err.get('input')!r})"
        origin = where(tuple(err["loc"])) if where is not None and err["loc"] else None
        lines.append(f"{line} [in {origin}]" if origin else line)
    return lines


def parse_plant_config(
    data: Any,
    source: str = "<memory>",
    *,
    template: Template | None = None,
    provenance: Provenance | None = None,
) -> PlantConfig:
    """Validate a mapping (e.g. parsed YAML) into a PlantConfig, or raise PlantConfigError.

    `template`/`provenance`: `data` is a plant merged onto that template (`merge_onto_template`);
    errors then name the file (template or plant.yaml) each wrong key comes from.
    """
    if not isinstance(data, dict):
        raise PlantConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    if template is None and "extends" in data:
        raise PlantConfigError(
            f"{source}: extends: {data['extends']!r} is resolved when plant.yaml is read "
            "(load_plant_config); merge the template first (merge_onto_template) or drop the key"
        )
    extra: dict[str, Any] = {
        "source_path": source,
        "extends": template.name if template is not None else None,
        "template_path": str(template.path) if template is not None else None,
        "template_sha256": template.sha256 if template is not None else None,
    }
    try:
        return PlantConfig.model_validate({**data, **extra})
    except ValidationError as exc:
        head = f"{source}: invalid plant config"
        where = None
        if template is not None:
            head += f" (extends {template.name}: merged onto {template.path})"
            if provenance is not None:
                prov = provenance

                def where(loc: tuple[Any, ...]) -> str | None:
                    return provenance_of(prov, loc)

        raise PlantConfigError(head + "\n" + "\n".join(validation_lines(exc, where))) from None


def read_plant_yaml(path: str | Path) -> Any:
    """The parsed content of a plant.yaml as written (before any template). Raises PlantConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantConfigError(f"{path}: cannot read plant config ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlantConfigError(f"{path}: not valid YAML: {exc}") from None


def load_plant_config(path: str | Path, *, fleet_dir: str | Path | None = None) -> PlantConfig:
    """Read and validate `plant.yaml`. Raises PlantConfigError naming the file and the key.

    A plant.yaml with `extends: <equipment_type>` is merged onto that template first (see
    `factory_mlops.config.template_dirs` for where templates are found; `fleet_dir` overrides it).
    """
    path = Path(path)
    data = read_plant_yaml(path)
    if isinstance(data, dict) and "extends" in data:
        template = find_template(
            data["extends"],
            plants_dir=path.resolve().parent.parent,
            fleet_dir=fleet_dir,
            source=str(path),
        )
        merged, provenance = merge_onto_template(template, data, str(path))
        return parse_plant_config(merged, str(path), template=template, provenance=provenance)
    return parse_plant_config(data, str(path))


def discover_plants(root: str | Path) -> dict[str, Path]:
    """Map plant_id -> plant.yaml for every `<root>/<plant_id>/plant.yaml`."""
    root = Path(root)
    return {p.parent.name: p for p in sorted(root.glob("*/plant.yaml"))}


def default_plants_dir() -> Path:
    """`$FACTORY_MLOPS_PLANTS`, else `./plants` when it exists, else the packaged `plants/`."""
    import os

    env = os.environ.get("FACTORY_MLOPS_PLANTS")
    if env:
        return Path(env).expanduser().resolve()
    local = Path("plants")
    if (local / "README.md").exists() or any(local.glob("*/plant.yaml")):
        return local.resolve()
    import plants

    return Path(plants.__file__).resolve().parent


def resolve_plant(plant: str, plants_dir: str | Path | None = None) -> PlantConfig:
    """A plant by id (looked up under `plants_dir`) or by the path of its plant.yaml / folder."""
    candidate = Path(plant)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return load_plant_config(candidate)
    if candidate.is_dir() and (candidate / "plant.yaml").is_file():
        return load_plant_config(candidate / "plant.yaml")
    root = Path(plants_dir) if plants_dir is not None else default_plants_dir()
    known = discover_plants(root)
    if plant not in known:
        raise PlantConfigError(
            f"unknown plant {plant!r}: no {root}/{plant}/plant.yaml; known plants: {sorted(known)}. "
            f"Pass a plant id, the path of a plant.yaml, or --plants DIR"
        )
    return load_plant_config(known[plant])

"""Reading plant.yaml: validation messages that name the key, loading and discovering plants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from factory_mlops.config._plant import PlantConfig
from factory_mlops.errors import PlantConfigError


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def validation_lines(exc: ValidationError) -> list[str]:
    """One line per pydantic error of a YAML-backed model: the key path, what is wrong, the value given.

    Shared by every YAML file the library validates (plant.yaml, benchmark scenarios).
    """
    lines = []
    for err in exc.errors():
        key = _format_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (remove it or check its spelling)")
        elif not err["loc"]:  # a whole-file consistency rule: the input is the whole file
            lines.append(f"  {msg}")
        elif err["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key}: {msg} (got {err.get('input')!r})")
    return lines


def parse_plant_config(data: Any, source: str = "<memory>") -> PlantConfig:
    """Validate a mapping (e.g. parsed YAML) into a PlantConfig, or raise PlantConfigError."""
    if not isinstance(data, dict):
        raise PlantConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return PlantConfig.model_validate({**data, "source_path": source})
    except ValidationError as exc:
        raise PlantConfigError(
            f"{source}: invalid plant config\n" + "\n".join(validation_lines(exc))
        ) from None


def load_plant_config(path: str | Path) -> PlantConfig:
    """Read and validate `plant.yaml`. Raises PlantConfigError naming the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantConfigError(f"{path}: cannot read plant config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlantConfigError(f"{path}: not valid YAML: {exc}") from None
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

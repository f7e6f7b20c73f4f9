"""A plant's overrides against its template: key path, template value, plant value, and the line.

Compared as written (the plant.yaml and the template file, before pydantic defaults), with the
merge rules of `factory_mlops.config.merge_onto_template`: mappings are walked key by key, lists
are one value, `sensors` are matched by `name`. Each key the plant states is one row:

- `override`: the template states another value there; deleting the plant's key (the line the row
  names) gives the plant the template's value again;
- `same`: the plant repeats the template's value (deleting it changes nothing);
- `added`: the template does not state the key (the plant's own: plant_id, machines, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from factory_mlops.config import KEYED_LISTS, Template, find_template, read_plant_yaml
from factory_mlops.errors import PlantConfigError

#: One step of a key path: a mapping key, or (key field, value) for an entry of a keyed list.
Step = str | tuple[str, Any]
_MISSING = object()


def key_string(path: tuple[Step, ...]) -> str:
    """`("sensors", ("name", "torque_nm"), "max")` -> `sensors[name=torque_nm].max`."""
    out = ""
    for step in path:
        if isinstance(step, tuple):
            out += f"[{step[0]}={step[1]}]"
        else:
            out += f".{step}" if out else str(step)
    return out


@dataclass(frozen=True)
class Span:
    """Where a key sits in its file: first and last line (1-based) and whether it shares its line."""

    line: int
    end_line: int
    inline: bool

    def reset_hint(self, key: str) -> str:
        """The one edit that removes the key from the file."""
        if self.inline:
            return f"remove `{key}` from line {self.line}"
        if self.end_line > self.line:
            return f"delete lines {self.line}-{self.end_line}"
        return f"delete line {self.line}"


def key_spans(text: str) -> dict[tuple[Step, ...], Span]:
    """Key path -> span for every key of a YAML document (keyed lists by their entries' key)."""
    root = yaml.compose(text)
    out: dict[tuple[Step, ...], Span] = {}
    if root is not None:
        _spans(root, (), out, inline=False)
    return out


def _last_line(node: yaml.Node) -> int:
    """The last line (1-based) holding part of `node` (a block collection's end mark is the next
    token, so its last child decides)."""
    if (
        isinstance(node, yaml.MappingNode | yaml.SequenceNode)
        and not node.flow_style
        and node.value
    ):
        last = node.value[-1]
        return _last_line(last[1] if isinstance(last, tuple) else last)
    end = node.end_mark
    return end.line if end.column == 0 and end.line > node.start_mark.line else end.line + 1


def _spans(
    node: yaml.Node, path: tuple[Step, ...], out: dict[tuple[Step, ...], Span], inline: bool
) -> None:
    if isinstance(node, yaml.MappingNode):
        flow = bool(node.flow_style)
        for key_node, value_node in node.value:
            here = (*path, str(key_node.value))
            out[here] = Span(key_node.start_mark.line + 1, _last_line(value_node), inline or flow)
            _spans(value_node, here, out, inline or flow)
    elif isinstance(node, yaml.SequenceNode):
        key = KEYED_LISTS.get(tuple(str(p) for p in path))
        if key is None:
            return
        for item in node.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            for key_node, value_node in item.value:
                if key_node.value == key and isinstance(value_node, yaml.ScalarNode):
                    name = yaml.safe_load(yaml.serialize(value_node))
                    here = (*path, (key, name))
                    out[here] = Span(
                        item.start_mark.line + 1, _last_line(item), inline or bool(node.flow_style)
                    )
                    _spans(item, here, out, inline)


@dataclass(frozen=True)
class DiffRow:
    """One key the plant states: `override`, `same` (as the template) or `added`."""

    key: str
    kind: str
    template_value: Any
    plant_value: Any
    line: int | None
    reset: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "template_value": _jsonable(self.template_value),
            "plant_value": _jsonable(self.plant_value),
            "line": self.line,
            "reset": self.reset,
        }


@dataclass(frozen=True)
class TemplateDiff:
    """A plant's rows against its template (file order of the plant.yaml)."""

    plant_id: str
    plant_path: Path
    template: Template | None
    rows: list[DiffRow] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[DiffRow]:
        return [r for r in self.rows if r.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        t = self.template
        return {
            "plant_id": self.plant_id,
            "plant_path": str(self.plant_path),
            "extends": t.name if t else None,
            "template_path": str(t.path) if t else None,
            "template_sha256": t.sha256 if t else None,
            "rows": [r.to_dict() for r in self.rows],
        }


def _jsonable(value: Any) -> Any:
    if value is _MISSING:
        return None
    return json.loads(json.dumps(value, default=str))


def _walk(
    tmpl: Any,
    plant: Any,
    path: tuple[Step, ...],
    spans: dict[tuple[Step, ...], Span],
    rows: list[DiffRow],
    root: dict[str, Any],
) -> None:
    key = KEYED_LISTS.get(tuple(s for s in path if isinstance(s, str)) if path else ())
    if tmpl is not _MISSING and isinstance(tmpl, dict) and isinstance(plant, dict):
        for k, v in plant.items():
            _walk(tmpl.get(k, _MISSING), v, (*path, k), spans, rows, root)
        return
    if (
        key is not None
        and len(path) == 1
        and isinstance(tmpl, list)
        and isinstance(plant, list)
        and all(isinstance(i, dict) and key in i for i in [*tmpl, *plant])
    ):
        by_name = {i[key]: i for i in tmpl}
        for item in plant:
            here = (*path, (key, item[key]))
            if item[key] not in by_name:
                rows.append(_row(here, "added", _MISSING, item, spans, root))
                continue
            for k, v in item.items():
                if k != key:
                    _walk(by_name[item[key]].get(k, _MISSING), v, (*here, k), spans, rows, root)
        return
    kind = "added" if tmpl is _MISSING else ("same" if tmpl == plant else "override")
    rows.append(_row(path, kind, tmpl, plant, spans, root))


def _row(
    path: tuple[Step, ...],
    kind: str,
    tmpl: Any,
    plant: Any,
    spans: dict[tuple[Step, ...], Span],
    root: dict[str, Any],
) -> DiffRow:
    span = spans.get(path)
    target = _reset_target(path, root)
    where = spans.get(target)
    last = target[-1]
    short = f"{last[0]}: {last[1]}" if isinstance(last, tuple) else str(last)
    reset = where.reset_hint(short) if where is not None and kind != "added" else None
    return DiffRow(key_string(path), kind, tmpl, plant, span.line if span else None, reset)


def _value_at(root: dict[str, Any], path: tuple[Step, ...]) -> Any:
    value: Any = root
    for step in path:
        if isinstance(step, tuple):
            value = next(i for i in value if isinstance(i, dict) and i.get(step[0]) == step[1])
        else:
            value = value[step]
    return value


def _reset_target(path: tuple[Step, ...], root: dict[str, Any]) -> tuple[Step, ...]:
    """What to delete so the template's value applies: the key itself, or its parent when the key
    is all the parent holds (an empty `model:` would be a null, not "the template's model")."""
    target = path
    while len(target) > 1:
        parent = _value_at(root, target[:-1])
        left = [k for k in parent if not (isinstance(target[-2], tuple) and k == target[-2][0])]
        if not isinstance(parent, dict) or len(left) > 1:
            break
        target = target[:-1]
    return target


def plant_template_diff(
    plant_path: str | Path, *, fleet_dir: str | Path | None = None
) -> TemplateDiff:
    """The rows of the plant.yaml at `plant_path` against the template it `extends` (none when it
    extends nothing). Raises PlantConfigError for an unreadable file or an unknown template."""
    path = Path(plant_path)
    data = read_plant_yaml(path)
    if not isinstance(data, dict):
        raise PlantConfigError(f"{path}: expected a mapping at the top level")
    plant_id = str(data.get("plant_id", path.parent.name))
    if "extends" not in data:
        return TemplateDiff(plant_id, path, None)
    template = find_template(
        data["extends"],
        plants_dir=path.resolve().parent.parent,
        fleet_dir=fleet_dir,
        source=str(path),
    )
    spans = key_spans(path.read_text(encoding="utf-8"))
    rows: list[DiffRow] = []
    body = {k: v for k, v in data.items() if k != "extends"}
    _walk(template.data, body, (), spans, rows, body)
    return TemplateDiff(plant_id, path, template, rows)


def changed_keys(old: Any, new: Any, path: tuple[Step, ...] = ()) -> list[str]:
    """Key paths whose value differs between two versions of a template (added, removed, changed)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in [*old, *(k for k in new if k not in old)]:
            out += changed_keys(old.get(k, _MISSING), new.get(k, _MISSING), (*path, k))
        return out
    key = KEYED_LISTS.get(tuple(s for s in path if isinstance(s, str)))
    if (
        key is not None
        and isinstance(old, list)
        and isinstance(new, list)
        and all(isinstance(i, dict) and key in i for i in [*old, *new])
    ):
        a, b = {i[key]: i for i in old}, {i[key]: i for i in new}
        out = []
        for name in [*a, *(n for n in b if n not in a)]:
            out += changed_keys(a.get(name, _MISSING), b.get(name, _MISSING), (*path, (key, name)))
        return out
    return [] if old == new else [key_string(path)]

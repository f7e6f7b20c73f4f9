"""`factory-mlops fleet diff PLANT`, `fleet templates [list|check|record]` and `fleet scorecard`.

Exit codes: 0 done, 1 `templates check` found a template change not recorded in the audit log
or a plant the template breaks, 2 a usage or configuration error (and `record` refusing).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from factory_mlops.clikit import HOME_HELP, PLANTS_HELP, fail

FLEET_HELP = (
    "fleet folder holding templates/ (default: $FACTORY_MLOPS_FLEET, else fleet/ beside the "
    "plants folder, then the packaged templates)"
)


def _show(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _rel(path: str | Path) -> str:
    """`path` relative to the current directory when it is below it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _status_line(st: Any) -> str:
    if st.status == "recorded":
        last = st.last
        return f"recorded in the audit log (entry {last.seq}, {last.at[:19]}, {last.actor})"
    if st.status == "new":
        return (
            "NOT recorded in the audit log: run `factory-mlops fleet templates record --reason ...`"
        )
    keys = ", ".join(st.changed or []) or "formatting only"
    return (
        f"CHANGED since audit entry {st.last.seq} (sha256 {str(st.recorded_sha256)[:12]}), not "
        f"recorded: {keys}; run `factory-mlops fleet templates record --reason ...`"
    )


def _plants_dir(args: argparse.Namespace) -> Path:
    from factory_mlops.config import default_plants_dir

    return Path(args.plants) if args.plants else default_plants_dir()


def _cmd_diff(args: argparse.Namespace) -> int:
    from factory_mlops.config import discover_plants
    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.fleet._audit import template_statuses
    from factory_mlops.fleet._diff import plant_template_diff
    from factory_mlops.home import FactoryHome

    candidate = Path(args.plant)
    if candidate.is_file():
        path = candidate
    elif (candidate / "plant.yaml").is_file():
        path = candidate / "plant.yaml"
    else:
        known = discover_plants(_plants_dir(args))
        if args.plant not in known:
            return fail(
                f"unknown plant {args.plant!r}; known plants under {_plants_dir(args)}: "
                f"{sorted(known)}. Pass a plant id, a plant.yaml or --plants DIR"
            )
        path = known[args.plant]
    try:
        diff = plant_template_diff(path, fleet_dir=args.fleet)
        status = None
        if diff.template is not None:
            home = FactoryHome.resolve(args.home)
            [status] = template_statuses(
                home, {diff.template.name: diff.template.path}, path.resolve().parent.parent
            )
    except FactoryMLOpsError as exc:
        return fail(str(exc))
    if args.json:
        out = diff.to_dict()
        out["template_audit"] = status.to_dict() if status is not None else None
        print(json.dumps(out, ensure_ascii=False))
        return 0
    if diff.template is None:
        print(f"{diff.plant_id} ({_rel(path)}) extends no template: every key is its own.")
        return 0
    t = diff.template
    print(
        f"{diff.plant_id} ({_rel(path)}) extends {t.name} ({_rel(t.path)}, sha256 {t.sha256[:12]})"
    )
    print(f"  template: {_status_line(status)}")
    sections = (
        (
            "override",
            "overrides (the plant's value wins; make the edit shown to take the template's)",
        ),
        ("same", "same as the template (redundant: the edit shown changes nothing)"),
        ("added", "the plant's own keys (not in the template)"),
    )
    for kind, title in sections:
        rows = diff.of_kind(kind)
        if not rows:
            continue
        print(f"{title}:")
        for r in rows:
            where = f"line {r.line}" if r.line else "line ?"
            if kind == "added":
                print(f"  {r.key} = {_show(r.plant_value)}  ({where})")
            else:
                print(
                    f"  {r.key}: template {_show(r.template_value, 40)} -> plant "
                    f"{_show(r.plant_value, 40)}  ({where}; to reset: {r.reset})"
                )
    if not diff.of_kind("override"):
        print("no overrides: the plant uses the template's recipe as is")
    return 0


def _actor(by: str | None) -> str:
    name = by or os.environ.get("FACTORY_MLOPS_USER") or getpass.getuser()
    return name if ":" in name else f"person:{name}"


def _cmd_templates(args: argparse.Namespace) -> int:
    from factory_mlops.config import discover_templates, template_dirs
    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.fleet._audit import (
        broken_plants,
        record_template_changes,
        template_statuses,
    )
    from factory_mlops.home import FactoryHome

    plants_dir = _plants_dir(args)
    home = FactoryHome.resolve(args.home)
    templates = discover_templates(plants_dir, args.fleet)
    if not templates:
        return fail(
            f"no templates found in {[str(d) for d in template_dirs(plants_dir, args.fleet)]}; "
            "add fleet/templates/<equipment_type>.yaml or pass --fleet DIR"
        )
    try:
        if args.action == "record":
            if not args.reason:
                return fail("templates record needs --reason (recorded in the audit log)")
            entries = record_template_changes(
                home,
                templates,
                plants_dir,
                actor=_actor(args.by),
                reason=args.reason,
                fleet_dir=args.fleet,
            )
            if args.json:
                print(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
            elif not entries:
                print("every template is already recorded at its current sha256; nothing written")
            else:
                for e in entries:
                    d = e.details
                    print(
                        f"recorded {d['template']} sha256 {str(d['sha256'])[:12]} as audit entry "
                        f"{e.seq} (previous {str(d['previous_sha256'])[:12] if d['previous_sha256'] else 'none'})"
                    )
            return 0
        statuses = template_statuses(home, templates, plants_dir)
    except FactoryMLOpsError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps([s.to_dict() for s in statuses], ensure_ascii=False))
    else:
        for s in statuses:
            print(f"{s.template.name}: {_rel(s.template.path)} (sha256 {s.template.sha256[:12]})")
            print(f"  plants: {', '.join(s.plants) or 'none'}")
            print(f"  {_status_line(s)}")
    if args.action == "check":
        failed = False
        for s in statuses:
            for plant, err in broken_plants(s, plants_dir, args.fleet).items():
                sys.stderr.write(f"error: template {s.template.name} breaks plant {plant}: {err}\n")
                failed = True
        unrecorded = [s.template.name for s in statuses if s.status != "recorded"]
        if unrecorded:
            sys.stderr.write(
                f"error: template(s) {', '.join(unrecorded)} changed without an audit record in "
                f"{home.root}; run `factory-mlops fleet templates record --reason ...`\n"
            )
            failed = True
        return 1 if failed else 0
    return 0


def _cmd_scorecard(args: argparse.Namespace) -> int:
    from factory_mlops.fleet._scorecard import COLUMNS, fleet_scorecard
    from factory_mlops.home import FactoryHome

    rows = fleet_scorecard(_plants_dir(args), FactoryHome.resolve(args.home))
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False))
        return 0
    shown = [r.display() for r in rows]
    cols = [c for c in COLUMNS if c != "problem" or any(r.problem for r in rows)]
    widths = {c: max(len(c), *(len(d[c]) for d in shown)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for d in shown:
        print("  ".join(d[c].ljust(widths[c]) for c in cols))
    return 0


def add_fleet_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `fleet diff` and `fleet templates` to the `factory-mlops` parser."""
    fleet = sub.add_parser(
        "fleet",
        help="templates per equipment type: a plant's overrides, template changes and their audit",
    )
    cmds = fleet.add_subparsers(dest="fleet_command", required=True)

    diff = cmds.add_parser(
        "diff",
        help="a plant's overrides against its template (key, template value, plant value, line)",
        description="Every key the plant.yaml states against the template it extends: overrides, "
        "keys that repeat the template, and the plant's own keys; for each override the line to "
        "delete to take the template's value again.",
    )
    diff.add_argument("plant", help="plant id, the path of a plant.yaml, or a plant folder")
    diff.add_argument("--json", action="store_true", help="print the rows as JSON")
    diff.add_argument("--plants", default=None, help=PLANTS_HELP)
    diff.add_argument("--fleet", default=None, help=FLEET_HELP)
    diff.add_argument("--home", default=None, help=HOME_HELP + " (for the template's audit state)")
    diff.set_defaults(func=_cmd_diff)

    tl = cmds.add_parser(
        "templates",
        help="list templates and their audit state; check (exit 1 if unrecorded) or record changes",
        description="list: each template, the plants extending it, and whether its current sha256 "
        "is recorded in the audit log. check: the same, exit 1 when a template is new or changed "
        "without a record. record: append a template_change audit entry for each such template.",
    )
    tl.add_argument("action", nargs="?", choices=("list", "check", "record"), default="list")
    tl.add_argument("--reason", default=None, help="record: why the template changed (audit log)")
    tl.add_argument(
        "--by", default=None, help="record: who (default: $FACTORY_MLOPS_USER or the login name)"
    )
    tl.add_argument("--json", action="store_true")
    tl.add_argument("--plants", default=None, help=PLANTS_HELP)
    tl.add_argument("--fleet", default=None, help=FLEET_HELP)
    tl.add_argument("--home", default=None, help=HOME_HELP)
    tl.set_defaults(func=_cmd_templates)

    sc = cmds.add_parser(
        "scorecard",
        help="per plant: champion, holdout metrics, drift, integrity, impact, retrains, contract",
        description="The fleet/plant_scorecard table from the command line: read from the home, "
        "n/a where the home records nothing.",
    )
    sc.add_argument("--json", action="store_true", help="print the rows as JSON (null = n/a)")
    sc.add_argument("--plants", default=None, help=PLANTS_HELP)
    sc.add_argument("--home", default=None, help=HOME_HELP)
    sc.set_defaults(func=_cmd_scorecard)

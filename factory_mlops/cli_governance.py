"""`factory-mlops status | rollback | reproduce`: governance of registered models from the shell.

Exit codes: 0 done, 1 the operation ran and failed its check (not reproduced, rollback refused),
2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING

from factory_mlops.clikit import HOME_HELP, PLANTS_HELP, fail

if TYPE_CHECKING:  # the CLI imports these lazily: `--help` stays fast
    from factory_mlops.home import FactoryHome
    from factory_mlops.registry import ModelRegistry


def _person(by: str | None) -> str:
    name = by or os.environ.get("FACTORY_MLOPS_USER") or getpass.getuser()
    return name if ":" in name else f"person:{name}"


def _context(args: argparse.Namespace) -> tuple[FactoryHome, ModelRegistry]:
    from factory_mlops.deployment import current_deployment
    from factory_mlops.home import FactoryHome
    from factory_mlops.registry import ModelRegistry

    home = FactoryHome.resolve(args.home)
    embedded = current_deployment().mlflow_tracking_uri(home.tracking_uri) == home.tracking_uri
    if embedded and not home.mlflow_db.exists():
        raise SystemExit(
            fail(
                f"no registry under {home.root} (no {home.mlflow_db.name}); pass --home or run a retrain first"
            )
        )
    return home, ModelRegistry.from_home(home)


def _cmd_status(args: argparse.Namespace) -> int:
    from factory_mlops.config import (
        default_plants_dir,
        discover_plants,
        load_plant_config,
        resolve_plant,
    )
    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.governance import format_status, plant_status

    try:
        if args.plant:
            configs = [resolve_plant(args.plant, args.plants)]
        else:
            root = args.plants or default_plants_dir()
            configs = [load_plant_config(p) for p in discover_plants(root).values()]
        home, registry = _context(args)
        statuses = [plant_status(c, home, registry, history=args.history) for c in configs]
    except FactoryMLOpsError as exc:
        return fail(str(exc))
    if not args.plant:
        statuses = [s for s in statuses if s["versions"]] or statuses
    if args.json:
        print(json.dumps(statuses[0] if args.plant else statuses, default=str))
    else:
        print("\n\n".join(format_status(s) for s in statuses))
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from factory_mlops.config import resolve_plant
    from factory_mlops.errors import FactoryMLOpsError, GovernanceError
    from factory_mlops.governance import rollback

    try:
        config = resolve_plant(args.plant, args.plants)
        home, registry = _context(args)
        result = rollback(
            config, home, registry, to=args.to, reason=args.reason, actor=_person(args.by)
        )
    except GovernanceError as exc:
        print(f"rollback refused: {exc}", file=sys.stderr)
        return 1
    except FactoryMLOpsError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(
            f"{result.plant_id}: champion v{result.from_version} -> v{result.to_version}; bundle "
            f"{result.deployment.bundle_sha256[:12]}… now serves on {', '.join(result.deployment.nodes)} "
            f"(by {result.actor}: {result.reason})"
        )
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from factory_mlops.config import resolve_plant
    from factory_mlops.errors import FactoryMLOpsError, ReproduceError
    from factory_mlops.governance import reproduce

    try:
        config = resolve_plant(args.plant, args.plants)
        home, registry = _context(args)
        report = reproduce(
            config, home, registry, args.version, tolerance=args.tolerance, actor=_person(args.by)
        )
    except ReproduceError as exc:
        if args.json:
            print(
                json.dumps(
                    {
                        "plant_id": args.plant,
                        "version": args.version,
                        "reproduced": False,
                        "error": str(exc),
                    }
                )
            )
        print(f"cannot reproduce: {exc}", file=sys.stderr)
        return 1
    except FactoryMLOpsError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        verdict = "REPRODUCED" if report.reproduced else "NOT REPRODUCED"
        print(
            f"{report.plant_id} v{report.version}: {verdict} — training data sha256 {report.training_data_sha256[:12]}… "
            f"({report.rows} rows) rebuilt; max |Δ| {report.max_abs_diff:.3g} on {report.holdout_rows} holdout rows "
            f"(tolerance {report.tolerance:g}); threshold {report.threshold_registered:.6g} vs "
            f"{report.threshold_reproduced:.6g}; code {report.code_version_registered} -> {report.code_version_now}; "
            f"{report.seconds:.1f} s"
        )
    return 0 if report.reproduced else 1


def add_governance_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `status`, `rollback` and `reproduce` to the `factory-mlops` parser."""
    st = sub.add_parser(
        "status", help="champion, challenger, last retrain and edge versions per plant"
    )
    st.add_argument(
        "plant", nargs="?", help="plant id (default: every plant with a registered model)"
    )
    st.add_argument(
        "--history", action="store_true", help="also list every champion change (who, when, why)"
    )
    st.add_argument(
        "--json", action="store_true", help="print JSON (one object for a plant, else a list)"
    )
    st.add_argument("--home", default=None, help=HOME_HELP)
    st.add_argument("--plants", default=None, help=PLANTS_HELP)
    st.set_defaults(func=_cmd_status)

    rb = sub.add_parser(
        "rollback",
        help="make an earlier version champion again and redeploy it to the edge",
        description="Moves the plant's champion alias, installs that version's registered bundle "
        "on every edge node and writes the audit entries. Without --to: the previous champion.",
    )
    rb.add_argument("plant")
    rb.add_argument("--to", type=int, default=None, metavar="VERSION", help="version to go back to")
    rb.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    rb.add_argument(
        "--by", default=None, help="who (default: $FACTORY_MLOPS_USER or the login name)"
    )
    rb.add_argument("--json", action="store_true")
    rb.add_argument("--home", default=None, help=HOME_HELP)
    rb.add_argument("--plants", default=None, help=PLANTS_HELP)
    rb.set_defaults(func=_cmd_rollback)

    rp = sub.add_parser(
        "reproduce",
        help="retrain a version from its lineage and compare its predictions",
        description="Exit 0 when the retrained model's holdout scores equal the registered ones "
        "(within --tolerance), 1 when they differ or the training data is no longer available.",
    )
    rp.add_argument("plant")
    rp.add_argument("version", type=int)
    rp.add_argument(
        "--tolerance",
        type=float,
        default=1e-9,
        help="max |score difference| accepted (default 1e-9)",
    )
    rp.add_argument("--by", default=None, help="who asked (audit log)")
    rp.add_argument("--json", action="store_true")
    rp.add_argument("--home", default=None, help=HOME_HELP)
    rp.add_argument("--plants", default=None, help=PLANTS_HELP)
    rp.set_defaults(func=_cmd_reproduce)

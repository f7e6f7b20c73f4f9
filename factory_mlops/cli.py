"""The `factory-mlops` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from factory_mlops.clikit import PLATFORM_INSTALL, fail, missing_platform_module, platform_missing
from factory_mlops.errors import DeploymentError


def _cmd_demo(args: argparse.Namespace) -> int:
    from factory_mlops.orchestration.demo import run_demo

    summary = run_demo(args.home, args.plants, progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


#: Where the benchmarks are when the current directory is not inside a checkout: a checkout (the
#: folder holding `benchmarks/`) or its `benchmarks/` folder.
BENCHMARKS_ENV = "FACTORY_MLOPS_BENCHMARKS"
#: The project name a checkout's pyproject.toml states (compared normalised, PEP 503).
PROJECT_NAME = "factory-mlops"


class BenchmarksNotFoundError(Exception):
    """The benchmarks (a source checkout's `benchmarks/` package) cannot be found or imported."""


def _project_name(pyproject: Path) -> str | None:
    import re
    import tomllib

    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return re.sub(r"[-_.]+", "-", name).lower() if isinstance(name, str) else None


def is_checkout(folder: Path) -> bool:
    """A factory-mlops source checkout: `benchmarks/__init__.py` beside a pyproject.toml whose
    project name is factory-mlops."""
    return (folder / "benchmarks" / "__init__.py").is_file() and _project_name(
        folder / "pyproject.toml"
    ) == PROJECT_NAME


def find_benchmarks(cwd: Path | None = None) -> Path:
    """The folder that holds the `benchmarks` package to run (the checkout's root).

    `$FACTORY_MLOPS_BENCHMARKS` when set (a checkout, or its `benchmarks/` folder); otherwise the
    first of `cwd` (default: the current directory) and its parents that `is_checkout`. The
    benchmarks are not in the installed package, and the console script's sys.path does not hold
    the repository (an editable install maps `factory_mlops` and `plants` only), so the checkout is
    found here, explicitly. Raises `BenchmarksNotFoundError` with how to run them.
    """
    env = os.environ.get(BENCHMARKS_ENV)
    if env:
        path = Path(env).expanduser().resolve()
        if (path / "benchmarks" / "__init__.py").is_file():
            return path
        if path.name == "benchmarks" and (path / "__init__.py").is_file():
            return path.parent
        raise BenchmarksNotFoundError(
            f"{BENCHMARKS_ENV}={env} holds no benchmarks: point it at a factory-mlops source "
            "checkout (the folder with benchmarks/__init__.py and pyproject.toml) or at its "
            "benchmarks/ folder"
        )
    start = (Path.cwd() if cwd is None else cwd).resolve()
    for folder in (start, *start.parents):
        if is_checkout(folder):
            return folder
    raise BenchmarksNotFoundError(
        "the benchmarks live in the factory-mlops source checkout (its benchmarks/ folder), not "
        f"in the installed package, and {start} is not inside a checkout. Run them from the "
        "checkout (cd path/to/factory-mlops && factory-mlops bench NAME, or python -m benchmarks "
        f"NAME there), or set {BENCHMARKS_ENV}=path/to/factory-mlops"
    )


def load_benchmarks(root: Path) -> ModuleType:
    """The `benchmarks` package of `root` (see `find_benchmarks`), imported from there."""
    import importlib

    package = (root / "benchmarks").resolve()
    loaded = sys.modules.get("benchmarks")
    if loaded is None:
        sys.path.insert(0, str(package.parent))
        loaded = importlib.import_module("benchmarks")
    where = Path(getattr(loaded, "__file__", None) or ".").resolve().parent
    if where != package:
        raise BenchmarksNotFoundError(
            f"the benchmarks of {package} cannot be imported: another `benchmarks` package "
            f"({where}) is imported as `benchmarks`"
        )
    return loaded


def _cmd_bench(args: argparse.Namespace) -> int:
    try:
        benchmarks = load_benchmarks(find_benchmarks())
    except BenchmarksNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = benchmarks.run_benchmark(args.name, args)
    print(
        json.dumps(result, default=str)
        if args.json
        else result.get("text", json.dumps(result, indent=2, default=str))
    )
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from factory_mlops.config import resolve_plant
    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.home import FactoryHome
    from factory_mlops.pipeline import ingest_file

    try:
        config = resolve_plant(args.plant, args.plants)
    except FactoryMLOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    home = FactoryHome.resolve(args.home).ensure()
    reports = []
    for name in args.files:
        try:
            report = ingest_file(config, home, Path(name))
        except FactoryMLOpsError as exc:
            print(f"error: ingest of {name} failed: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # a crash is not a verdict on the file: never exit 1 for it
            traceback.print_exc()
            print(
                f"error: ingest of {name} crashed ({type(exc).__name__}: {exc}); the file was not "
                "judged (exit 3, not 1 = rejected). This is a bug: please report it with the "
                "traceback above",
                file=sys.stderr,
            )
            return 3
        reports.append(report)
        if not args.json:
            print(_describe_report(report))
    if args.json:
        payload = [r.to_dict() for r in reports]
        print(
            json.dumps(payload if len(payload) > 1 or args.json_list else payload[0], indent=None)
        )
    rejected = [r for r in reports if r.status == "rejected"]
    return 1 if rejected else 0


def _describe_report(report: object) -> str:
    d = report.to_dict()  # type: ignore[attr-defined]
    lines = [
        f"{d['file']}: {d['status'].upper()} — {d['rows_received']} received, {d['rows_accepted']} accepted, "
        f"{d['rows_quarantined']} quarantined ({d['plant_id']}, contract {d['contract_version']})"
    ]
    for reason, n in d["reasons"].items():
        lines.append(f"  quarantined {n:>8} × {reason}")
    lines.extend(f"  {f['severity']:>7}: {f['rule']}: {f['message']}" for f in d["failures"])
    if d["days"]:
        lines.append(
            f"  days: {d['days'][0]} .. {d['days'][-1]} ({len(d['days'])}), label events: {d['label_events']}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory-mlops", description="Pipeline-as-code MLOps for plants, on Dagster."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="run the closed loop on three simulated plants (embedded defaults)"
    )
    demo.add_argument(
        "--home",
        default=None,
        help="factory home (default: $FACTORY_MLOPS_HOME or ./.factory_mlops)",
    )
    demo.add_argument(
        "--plants", default=None, help="folder of plant folders (default: the packaged plants/)"
    )
    demo.add_argument(
        "--json", action="store_true", help="print a machine-readable summary as the last line"
    )
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.set_defaults(func=_cmd_demo)

    ingest = sub.add_parser(
        "ingest",
        help="validate and ingest historian exports of a plant (outside Dagster)",
        description="Validate files against the plant's data contract, store accepted rows in the lake and "
        "the rest in the quarantine. Exit 0 when every file was processed (even with quarantined rows), "
        "1 when a file was rejected whole, 2 on a usage/config error, 3 when ingest crashed (a bug; "
        "the file was not judged).",
    )
    ingest.add_argument(
        "plant", help="plant id (plants/<id>/plant.yaml) or the path of a plant.yaml"
    )
    ingest.add_argument(
        "files", nargs="+", help="CSV / Parquet exports as configured in the plant's source block"
    )
    ingest.add_argument(
        "--json",
        action="store_true",
        help="print per file: rows_received, rows_accepted, rows_quarantined, reasons, status (one "
        "object for one file, a list for several)",
    )
    ingest.add_argument("--json-list", action="store_true", help="with --json: always print a list")
    ingest.add_argument(
        "--home",
        default=None,
        help="factory home (default: $FACTORY_MLOPS_HOME or ./.factory_mlops)",
    )
    ingest.add_argument(
        "--plants",
        default=None,
        help="folder of plant folders (default: ./plants or the packaged one)",
    )
    ingest.set_defaults(func=_cmd_ingest)

    bench = sub.add_parser(
        "bench",
        help="run a benchmark of the source checkout (benchmarks/) and print its figures",
        description="Run one of the benchmarks in a factory-mlops source checkout's benchmarks/ "
        "folder (they are not in the installed package): from inside the checkout, or with "
        f"${BENCHMARKS_ENV} set to it.",
    )
    bench.add_argument("name", help="benchmark name (see docs/benchmarks.md)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--home", default=None, help="scratch home for benchmarks that need one")
    bench.add_argument("--repeat", type=int, default=3, help="repetitions (the median is reported)")
    bench.add_argument(
        "--data-dir",
        default=None,
        help="folder of external data for benchmarks that need it (cmapss: train/test/RUL_FD001.txt; "
        "default $FACTORY_MLOPS_CMAPSS_DIR, else ../shared/data/cmapss)",
    )
    bench.add_argument(
        "--seed", type=int, default=None, help="policies: override the scenario's seed"
    )
    bench.add_argument(
        "--seeds",
        default=None,
        help="policies: run several seeds, e.g. 1-10 or 1,4,7 (plant-seed runs in parallel processes)",
    )
    bench.add_argument(
        "--scenario",
        default=None,
        help="policies: scenario YAML (default: benchmarks/scenarios/year_three_plants.yaml)",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="policies: leave out the C-MAPSS FD002 repeat; edge: in-process figures only (no HTTP)",
    )
    bench.set_defaults(func=_cmd_bench)

    for name, register in _PLATFORM_PARSERS:
        try:
            register(sub)
        except ModuleNotFoundError as exc:  # an edge-only install: the command says what to add
            module = missing_platform_module(exc)
            if module is None:
                raise
            for command in name.split(","):
                _add_unavailable(sub, command, module)
    from factory_mlops.edge import add_edge_parser  # the edge runtime: always installed

    add_edge_parser(sub)
    return parser


def _register_governance(sub: argparse._SubParsersAction) -> None:
    from factory_mlops.cli_governance import add_governance_parsers

    add_governance_parsers(sub)


def _register_audit(sub: argparse._SubParsersAction) -> None:
    from factory_mlops.audit import add_audit_parser

    add_audit_parser(sub)


def _register_feedback(sub: argparse._SubParsersAction) -> None:
    from factory_mlops.feedback import add_feedback_parser

    add_feedback_parser(sub)


def _register_deployment(sub: argparse._SubParsersAction) -> None:
    from factory_mlops.cli_deployment import add_deployment_parser

    add_deployment_parser(sub)


def _register_fleet(sub: argparse._SubParsersAction) -> None:
    from factory_mlops.fleet import add_fleet_parser

    add_fleet_parser(sub)


def _register_reports(sub: argparse._SubParsersAction) -> None:
    from factory_mlops.reports import add_reports_parser

    add_reports_parser(sub)


#: Subcommands of the control plane, registered when their modules import (command names, adder).
_PLATFORM_PARSERS: tuple[tuple[str, Callable[[argparse._SubParsersAction], None]], ...] = (
    ("status,rollback,reproduce", _register_governance),
    ("audit", _register_audit),
    ("feedback", _register_feedback),
    ("reports", _register_reports),
    ("deployment", _register_deployment),
    ("fleet", _register_fleet),
)


def _add_unavailable(sub: argparse._SubParsersAction, command: str, module: str) -> None:
    """A placeholder subcommand on an install without the control plane: it says what to add."""
    p = sub.add_parser(command, help=f"(needs factory-mlops[platform]: {PLATFORM_INSTALL})")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda _args: platform_missing(command, module))


def main(argv: Sequence[str] | None = None) -> int:
    # Plant networks: no phoning home from MLflow or Dagster unless a user opts in.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(argv) >= 2 and argv[0] == "feedback" and argv[1] in ("serve", "user"):
            from factory_mlops.floor import main as floor_main  # the page and its users

            return floor_main(argv[1:])
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except ModuleNotFoundError as exc:  # an edge-only install running a control-plane command
        module = missing_platform_module(exc)
        if module is None:
            raise
        return platform_missing(" ".join(argv[:1]) or "", module)
    except DeploymentError as exc:  # an invalid $FACTORY_MLOPS_DEPLOYMENT, in any command
        return fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())

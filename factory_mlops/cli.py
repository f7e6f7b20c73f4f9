"""The `factory-mlops` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence


def _cmd_demo(args: argparse.Namespace) -> int:
    from factory_mlops.orchestration.demo import run_demo

    summary = run_demo(args.home, args.plants, progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from factory_mlops.bench import run_benchmark

    result = run_benchmark(args.name, args)
    print(json.dumps(result, default=str) if args.json else result.get("text", json.dumps(result, indent=2, default=str)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factory-mlops", description="Pipeline-as-code MLOps for plants, on Dagster.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the closed loop on three simulated plants (embedded defaults)")
    demo.add_argument("--home", default=None, help="factory home (default: $FACTORY_MLOPS_HOME or ./.factory_mlops)")
    demo.add_argument("--plants", default=None, help="folder of plant folders (default: the packaged plants/)")
    demo.add_argument("--json", action="store_true", help="print a machine-readable summary as the last line")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="run a benchmark and print its figures")
    bench.add_argument("name", help="benchmark name (see docs/benchmarks.md)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--home", default=None, help="scratch home for benchmarks that need one")
    bench.add_argument("--repeat", type=int, default=3, help="repetitions (the median is reported)")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Plant networks: no phoning home from MLflow or Dagster unless a user opts in.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

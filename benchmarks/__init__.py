"""Benchmarks reachable as `factory-mlops bench <name> [--json]`; figures go to docs/benchmarks.md.

They live in the source checkout, not in the wheel: the CLI finds this package from the current
directory (or `$FACTORY_MLOPS_BENCHMARKS`) and imports it; `python -m benchmarks <name>` from the
repository root is the same command line. They use `factory_mlops`' public API only.
"""

from benchmarks._registry import BENCHMARKS, run_benchmark

__all__ = ["BENCHMARKS", "run_benchmark"]

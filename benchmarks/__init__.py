"""Benchmarks reachable as `factory-mlops bench <name> [--json]`; figures go to docs/benchmarks.md."""

from benchmarks._registry import BENCHMARKS, run_benchmark

__all__ = ["BENCHMARKS", "run_benchmark"]

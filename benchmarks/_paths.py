"""Where the benchmarks are: this package's folder and the checkout it sits in.

The benchmarks run from a source checkout (they are not in the installed package), so the
repository root is the parent of this package, not a parent of `factory_mlops.__file__` (an
installed or elsewhere-mapped `factory_mlops` says nothing about where the checkout is).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: `benchmarks/` (scenario files in `scenarios/`).
BENCHMARKS_DIR = Path(__file__).resolve().parent
#: The checkout's root: the folder holding `benchmarks/`, `factory_mlops/` and `plants/`.
REPO_ROOT = BENCHMARKS_DIR.parent


def checkout_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the checkout root first on PYTHONPATH, for a child
    process that imports the checkout's source."""
    out = dict(os.environ if env is None else env)
    out["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [out.get("PYTHONPATH")])])
    return out

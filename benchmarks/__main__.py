"""`python -m benchmarks NAME [--json] [...]` from the repository root: `factory-mlops bench NAME`.

The same command line and flags; the benchmarks run are this package (its folder is passed to the
CLI as `$FACTORY_MLOPS_BENCHMARKS`, so no checkout lookup from the current directory).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from factory_mlops.cli import BENCHMARKS_ENV, main

if __name__ == "__main__":
    os.environ[BENCHMARKS_ENV] = str(Path(__file__).resolve().parent)
    sys.exit(main(["bench", *sys.argv[1:]]))

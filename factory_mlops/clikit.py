"""What every `factory-mlops` subcommand shares: the common arguments and the error convention.

Standard library only, so the edge CLI (which must not import the control plane) uses it too.
Exit codes: 0 done, 1 the work was refused or failed (e.g. a rejected file), 2 a usage or
configuration error; every error goes to stderr as `error: <what failed and how to fix it>`.
"""

from __future__ import annotations

import argparse
import sys

HOME_HELP = "factory home (default: $FACTORY_MLOPS_HOME or ./.factory_mlops)"
PLANTS_HELP = (
    "folder of plant folders (default: $FACTORY_MLOPS_PLANTS, ./plants or the packaged one)"
)
#: Exit code of a usage or configuration error.
USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> int:
    """Print `error: message` to stderr and return the exit code (`return fail(...)`)."""
    sys.stderr.write(f"error: {message}\n")
    return code


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    """`--home PATH`: the factory home the command works on."""
    parser.add_argument("--home", default=None, help=HOME_HELP)


def add_plants_argument(parser: argparse.ArgumentParser) -> None:
    """`--plants PATH`: where plant folders are found."""
    parser.add_argument("--plants", default=None, help=PLANTS_HELP)


__all__ = [
    "HOME_HELP",
    "PLANTS_HELP",
    "USAGE_ERROR",
    "add_home_argument",
    "add_plants_argument",
    "fail",
]

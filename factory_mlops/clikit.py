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
#: How to add the control plane to an edge-only install.
PLATFORM_INSTALL = "pip install 'factory-mlops[platform]'"
#: Top-level modules of the `platform` extra (the control plane). The base install is the edge
#: runtime; a command that imports one of these on an edge-only install says how to add them.
PLATFORM_MODULES = frozenset(
    {
        "dagster",
        "dagster_webserver",
        "mlflow",
        "evidently",
        "onnx",
        "onnxmltools",
        "skl2onnx",
        "sklearn",
        "pandera",
        "pyarrow",
        "tqdm",
        "sqlalchemy",
        "jinja2",
        "python_multipart",
        "multipart",
    }
)


def fail(message: str, code: int = USAGE_ERROR) -> int:
    """Print `error: message` to stderr and return the exit code (`return fail(...)`)."""
    sys.stderr.write(f"error: {message}\n")
    return code


def missing_platform_module(exc: BaseException) -> str | None:
    """The control-plane module an import failed on (`PLATFORM_MODULES`), else None."""
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    top = name.split(".")[0] if name else None
    return top if top in PLATFORM_MODULES else None


def platform_missing(command: str, module: str) -> int:
    """Report that `command` needs the control plane, which this (edge-only) install lacks."""
    return fail(
        f"`factory-mlops {command}` needs the control plane, but {module!r} is not installed "
        f"(this looks like an edge-only install): install factory-mlops[platform] "
        f"({PLATFORM_INSTALL})"
    )


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    """`--home PATH`: the factory home the command works on."""
    parser.add_argument("--home", default=None, help=HOME_HELP)


def add_plants_argument(parser: argparse.ArgumentParser) -> None:
    """`--plants PATH`: where plant folders are found."""
    parser.add_argument("--plants", default=None, help=PLANTS_HELP)


__all__ = [
    "HOME_HELP",
    "PLANTS_HELP",
    "PLATFORM_INSTALL",
    "PLATFORM_MODULES",
    "USAGE_ERROR",
    "add_home_argument",
    "add_plants_argument",
    "fail",
    "missing_platform_module",
    "platform_missing",
]

"""Lineage facts recorded on every model version: code version and the like."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import factory_mlops


@lru_cache(maxsize=1)
def code_version() -> str:
    """`git:<commit>[-dirty]` when running from a git checkout, else `pkg:<version>`."""
    root = Path(factory_mlops.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"pkg:{factory_mlops.__version__}"
    return (
        f"git:{commit}{'-dirty' if dirty else ''}" if commit else f"pkg:{factory_mlops.__version__}"
    )

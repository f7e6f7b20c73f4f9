"""`factory-mlops bench` finds the checkout's benchmarks/ (they are not in the installed package).

The subprocess tests run the CLI the way the console script of an editable install does: only
`factory_mlops` and `plants` importable (a folder of links to them on PYTHONPATH) and no current
directory on sys.path (`python -P`), so the repository itself is not importable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from factory_mlops.cli import (
    BENCHMARKS_ENV,
    BenchmarksNotFoundError,
    find_benchmarks,
    is_checkout,
)

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from factory_mlops.cli import main; sys.exit(main())"


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """An environment where only `factory_mlops` and `plants` of this checkout import."""
    site = tmp_path / "site"
    site.mkdir()
    for name in ("factory_mlops", "plants"):
        (site / name).symlink_to(ROOT / name, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != BENCHMARKS_ENV}
    env["PYTHONPATH"] = str(site)
    return env


def _bench(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-c", CLI, "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_outside_a_checkout_it_exits_2_and_says_how_to_run_them(
    tmp_path: Path, installed: dict[str, str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _bench(elsewhere, installed, "contracts", "--repeat", "1")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    message = proc.stderr
    assert message.startswith("error: the benchmarks live in the factory-mlops source checkout")
    assert str(elsewhere.resolve()) in message
    assert "cd path/to/factory-mlops && factory-mlops bench NAME" in message
    assert f"{BENCHMARKS_ENV}=path/to/factory-mlops" in message


def test_inside_the_checkout_it_finds_and_imports_the_benchmarks(
    installed: dict[str, str],
) -> None:
    # from a sub-folder of the checkout; the registry's list proves benchmarks/ was imported
    proc = _bench(ROOT / "docs", installed, "no-such-benchmark")
    assert proc.returncode == 1, proc.stderr
    assert "unknown benchmark 'no-such-benchmark'; available: cmapss, contracts," in proc.stderr


def test_the_env_var_points_at_the_checkout_from_anywhere(
    tmp_path: Path, installed: dict[str, str]
) -> None:
    proc = _bench(tmp_path, {**installed, BENCHMARKS_ENV: str(ROOT)}, "no-such-benchmark")
    assert proc.returncode == 1, proc.stderr
    assert "unknown benchmark 'no-such-benchmark'; available:" in proc.stderr


def test_python_m_benchmarks_runs_the_same_command_line(installed: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "no-such-benchmark", "--json"],
        cwd=ROOT,
        env=installed,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "unknown benchmark 'no-such-benchmark'; available:" in proc.stderr


def test_a_checkout_is_benchmarks_beside_a_factory_mlops_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BENCHMARKS_ENV, raising=False)
    assert is_checkout(ROOT)
    assert find_benchmarks(ROOT / "docs") == ROOT
    other = tmp_path / "other"
    (other / "benchmarks").mkdir(parents=True)
    (other / "benchmarks" / "__init__.py").write_text("")
    (other / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert not is_checkout(other)
    with pytest.raises(BenchmarksNotFoundError, match="not inside a checkout"):
        find_benchmarks(other / "benchmarks")
    (other / "pyproject.toml").write_text('[project]\nname = "Factory_MLOps"\n')  # normalised
    assert find_benchmarks(other / "benchmarks") == other


def test_the_env_var_takes_a_checkout_or_its_benchmarks_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BENCHMARKS_ENV, str(ROOT))
    assert find_benchmarks(tmp_path) == ROOT
    monkeypatch.setenv(BENCHMARKS_ENV, str(ROOT / "benchmarks"))
    assert find_benchmarks(tmp_path) == ROOT
    monkeypatch.setenv(BENCHMARKS_ENV, str(tmp_path))
    with pytest.raises(BenchmarksNotFoundError, match=f"{BENCHMARKS_ENV}=.* holds no benchmarks"):
        find_benchmarks(ROOT)


def test_the_wheel_leaves_the_benchmarks_out() -> None:
    import tomllib

    from setuptools import find_packages

    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = find_packages(str(ROOT), **found["find"])
    assert "factory_mlops.monitoring" in packages
    assert "plants" in packages
    assert not [p for p in packages if p.split(".")[0] == "benchmarks"]

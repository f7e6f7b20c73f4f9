"""Atomic install on an edge node folder: bundles kept, `current` swapped, failures change nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from factory_mlops.deploy import (
    InstalledBundle,
    bundle_sha256,
    current_bundle,
    export_onnx,
    install_bundle,
    verify_bundle,
)
from factory_mlops.errors import BundleError
from factory_mlops_tests.deploy._synthetic import SPEC, train
from factory_mlops_tests.deploy.test_bundle import make_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("bundles")
    onnx_bytes = export_onnx(train(seed=0).model, len(SPEC.feature_names))
    return {v: make_bundle(root / f"v{v}", version=v, onnx_bytes=onnx_bytes) for v in (1, 2)}


def _entries(node: Path) -> list[str]:
    return sorted(p.name for p in (node / "bundles").iterdir())


def test_nothing_installed(tmp_path: Path):
    assert current_bundle(tmp_path) is None


def test_install_points_current_at_the_new_bundle_and_keeps_the_old(bundles, tmp_path: Path):
    node = tmp_path / "node"
    first = install_bundle(bundles[1], node)
    sha1 = bundle_sha256(bundles[1])
    assert first == InstalledBundle(node, node / "bundles" / f"v1-{sha1[:8]}", 1, sha1)
    assert current_bundle(node) == first.path.resolve()
    second = install_bundle(bundles[2], node)
    assert second.version == 2 and second.path.name == f"v2-{bundle_sha256(bundles[2])[:8]}"
    assert current_bundle(node) == second.path.resolve()
    link = node / "current"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert _entries(node) == sorted([first.path.name, second.path.name])  # no .tmp leftovers
    assert verify_bundle(first.path)["version"] == 1  # previous bundle kept intact
    assert verify_bundle(node / "current")["version"] == 2
    assert [p.name for p in node.iterdir() if p.name.startswith(".")] == []


def test_reinstall_is_idempotent(bundles, tmp_path: Path):
    node = tmp_path / "node"
    a = install_bundle(bundles[1], node)
    mtime = (a.path / "model.onnx").stat().st_mtime_ns
    b = install_bundle(bundles[1], node)
    assert a == b
    assert _entries(node) == [a.path.name]
    assert (a.path / "model.onnx").stat().st_mtime_ns == mtime  # not copied again


def test_rollback_by_reinstalling_the_previous_bundle(bundles, tmp_path: Path):
    node = tmp_path / "node"
    old = install_bundle(bundles[1], node)
    install_bundle(bundles[2], node)
    assert install_bundle(bundles[1], node) == old
    assert current_bundle(node) == old.path.resolve()


def test_a_bundle_failing_verification_is_not_installed(bundles, tmp_path: Path):
    node = tmp_path / "node"
    good = install_bundle(bundles[1], node)
    bad = make_bundle(tmp_path / "bad", version=3)
    (bad / "model.onnx").write_bytes((bad / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(BundleError, match=r"model\.onnx"):
        install_bundle(bad, node)
    assert current_bundle(node) == good.path.resolve()
    assert _entries(node) == [good.path.name]


def test_a_corrupted_installed_copy_is_replaced_on_reinstall(bundles, tmp_path: Path):
    node = tmp_path / "node"
    inst = install_bundle(bundles[1], node)
    (inst.path / "reference.json").write_text("corrupted on disk")
    with pytest.raises(BundleError):
        verify_bundle(inst.path)
    again = install_bundle(bundles[1], node)
    assert again.path == inst.path
    verify_bundle(again.path)
    assert current_bundle(node) == inst.path.resolve()


def test_dangling_current_is_an_error(bundles, tmp_path: Path):
    node = tmp_path / "node"
    node.mkdir()
    (node / "current").symlink_to("bundles/v9-deadbeef")
    with pytest.raises(BundleError, match="does not exist"):
        current_bundle(node)
    install_bundle(bundles[2], node)  # installing repairs it
    assert verify_bundle(current_bundle(node))["version"] == 2

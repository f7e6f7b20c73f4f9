"""Install reliability on a node that trusts the plant key: every broken bundle is refused, a failed
or killed install leaves the node serving its previous bundle, and every attempt is recorded."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import factory_mlops.deploy._install as install_module
from factory_mlops.bundle import manifest_digest
from factory_mlops.deploy import (
    SIGNING_KEY_ENV,
    TRUSTED_KEYS_ENV,
    BundleSigner,
    InstalledBundle,
    bundle_sha256,
    clean_stale_temp,
    current_bundle,
    export_onnx,
    install_bundle,
    read_install_log,
    sign_bundle,
    verify_bundle,
)
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import BundleError
from factory_mlops_tests.deploy._synthetic import SPEC, train
from factory_mlops_tests.deploy.test_signing import make_signed_bundle


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)


@pytest.fixture(scope="module")
def signer() -> BundleSigner:
    return BundleSigner.generate()


@pytest.fixture(scope="module")
def other() -> BundleSigner:
    return BundleSigner.generate()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, signer: BundleSigner) -> dict[int, Path]:
    """v1 and v2 of the seed-0 model, signed by the plant key."""
    root = tmp_path_factory.mktemp("signed")
    onnx_bytes = export_onnx(train(seed=0).model, len(SPEC.feature_names))
    return {v: make_signed_bundle(root / f"v{v}", signer, v, onnx_bytes) for v in (1, 2)}


@pytest.fixture(scope="module")
def unsigned_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_signed_bundle(tmp_path_factory.mktemp("unsigned") / "u", None, 3)


def _entries(node: Path) -> list[str]:
    return sorted(p.name for p in (node / "bundles").iterdir())


def _edit_manifest(bundle: Path, recompute: bool) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["threshold"] = 0.01
    if recompute:
        manifest["manifest_sha256"] = manifest_digest(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def _flip_model_byte(bundle: Path) -> None:
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / "model.onnx").write_bytes(bytes(data))


def _truncate_model(bundle: Path) -> None:
    data = (bundle / "model.onnx").read_bytes()
    (bundle / "model.onnx").write_bytes(data[: len(data) // 3])


def _forge_key_id(bundle: Path, signer: BundleSigner, other: BundleSigner) -> None:
    """Signed with another key but claiming the plant's key id."""
    sign_bundle(bundle, other)
    doc = json.loads((bundle / "signature.json").read_text())
    doc["key_id"] = signer.key_id
    (bundle / "signature.json").write_text(json.dumps(doc))


Breaker = Callable[[Path, BundleSigner, BundleSigner, dict[int, Path]], None]

#: case -> (how to break a copy of v2, what the refusal must say)
CASES: dict[str, tuple[Breaker, str]] = {
    "manifest value edited": (
        lambda b, s, o, bs: _edit_manifest(b, recompute=False),
        r"manifest\.json was modified after the bundle was built",
    ),
    "manifest value edited, digest recomputed": (
        lambda b, s, o, bs: _edit_manifest(b, recompute=True),
        r"signature of .* by key {signer} does not verify over its manifest",
    ),
    "model file tampered": (
        lambda b, s, o, bs: _flip_model_byte(b),
        r"bundle file model\.onnx .* fails its checksum",
    ),
    "model file truncated": (
        lambda b, s, o, bs: _truncate_model(b),
        r"bundle file model\.onnx .* fails its checksum",
    ),
    "signed by another key": (
        lambda b, s, o, bs: sign_bundle(b, o),
        r"is signed by key {other}, which is not trusted here .*trust the plant's public key",
    ),
    "signed by another key under the plant's key id": (
        lambda b, s, o, bs: _forge_key_id(b, s, o),
        r"signature of .* by key {signer} does not verify",
    ),
    "signature missing": (
        lambda b, s, o, bs: (b / "signature.json").unlink(),
        r"is not signed \(no signature\.json\) but .* trusts key\(s\) \['{signer}'\]: a node with trusted keys runs signed bundles only",
    ),
    "signature of another bundle": (
        lambda b, s, o, bs: shutil.copyfile(bs[1] / "signature.json", b / "signature.json"),
        r"does not verify .*signature\.json was made for manifest_sha256 [0-9a-f]{{64}}.*rebuild",
    ),
    "extra file": (
        lambda b, s, o, bs: (b / "notes.txt").write_text("added later"),
        r"holds 'notes\.txt', which its manifest does not list",
    ),
    "extra feature plugin": (
        lambda b, s, o, bs: (b / "feature_plugin_evil.py").write_text("raise SystemExit(3)\n"),
        r"holds 'feature_plugin_evil\.py', which its manifest does not list",
    ),
    "file removed": (
        lambda b, s, o, bs: (b / "reference.json").unlink(),
        r"bundle file reference\.json is missing",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_bundle_is_refused_and_the_node_keeps_serving(
    case: str, bundles: dict[int, Path], signer: BundleSigner, other: BundleSigner, tmp_path: Path
):
    breaker, pattern = CASES[case]
    pattern = pattern.format(signer=signer.key_id, other=other.key_id)
    node = tmp_path / "node"
    good = install_bundle(
        bundles[1], node, public_key_pem=signer.public_pem(), require_signature=True
    )
    assert good.key_id == signer.key_id
    before = _entries(node)
    broken = tmp_path / "broken"
    shutil.copytree(bundles[2], broken)
    breaker(broken, signer, other, bundles)

    with pytest.raises(BundleError, match=pattern):
        verify_bundle(broken, trusted_keys=signer.trusted_keys())
    with pytest.raises(BundleError, match=pattern):
        install_bundle(broken, node)

    assert current_bundle(node) == good.path.resolve()
    assert _entries(node) == before  # nothing placed, no temp folder left
    model = EdgeModel.load(node)
    assert (model.version, model.bundle_sha256) == (1, good.bundle_sha256)
    first, last = read_install_log(node)
    assert first["ok"] is True and first["version"] == 1 and first["key_id"] == signer.key_id
    assert last["ok"] is False and last["path"] is None and last["signature_checked"] is True
    assert re.search(pattern, last["error"])
    assert last["bundle"] == str(broken)
    if (broken / "manifest.json").is_file():
        assert last["bundle_sha256"] == bundle_sha256(broken)


def test_install_record_of_a_successful_install(
    bundles: dict[int, Path], signer: BundleSigner, tmp_path: Path
):
    node = tmp_path / "node"
    installed = install_bundle(bundles[2], node, public_key_pem=signer.public_pem())
    assert installed == InstalledBundle(
        node, node / "bundles" / installed.path.name, 2, bundle_sha256(bundles[2]), signer.key_id
    )
    (rec,) = read_install_log(node)
    assert rec == {
        "time": rec["time"],
        "bundle": str(bundles[2]),
        "bundle_sha256": installed.bundle_sha256,
        "version": 2,
        "key_id": signer.key_id,
        "ok": True,
        "error": None,
        "signature_checked": True,
        "path": f"bundles/{installed.path.name}",
    }
    assert (node / "install_log.jsonl").read_text().count("\n") == 1


def test_require_signature_on_a_node_without_trusted_keys(
    bundles: dict[int, Path], signer: BundleSigner, tmp_path: Path, unsigned_bundle: Path
):
    node = tmp_path / "node"
    with pytest.raises(BundleError, match="must be signed but no key is trusted"):
        install_bundle(bundles[1], node, require_signature=True)
    assert current_bundle(node) is None
    # without require_signature a node with no trusted key accepts an unsigned bundle (documented)
    assert install_bundle(unsigned_bundle, node).key_id is None
    # provisioning the key in the same call makes the signature mandatory
    with pytest.raises(BundleError, match="is not signed"):
        install_bundle(unsigned_bundle, node, public_key_pem=signer.public_pem())
    assert install_bundle(bundles[1], node, require_signature=True).key_id == signer.key_id


def test_a_copy_corrupted_while_installing_is_not_installed(
    bundles: dict[int, Path], signer: BundleSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The temp copy is verified too: a copy that goes wrong never becomes a bundle."""
    node = tmp_path / "node"
    good = install_bundle(bundles[1], node, public_key_pem=signer.public_pem())
    real = install_module._copy_file

    def bad_disk(src: Path, dst: Path) -> None:
        real(src, dst)
        if dst.name == "model.onnx":
            dst.write_bytes(dst.read_bytes()[:-100])

    monkeypatch.setattr(install_module, "_copy_file", bad_disk)
    with pytest.raises(BundleError, match=r"\.tmp-\d+-[0-9a-f]+ fails its checksum"):
        install_bundle(bundles[2], node)
    monkeypatch.undo()
    assert current_bundle(node) == good.path.resolve()
    assert _entries(node) == [good.path.name]
    assert EdgeModel.load(node).version == 1
    assert install_bundle(bundles[2], node).version == 2


CHILD = """
import sys, time
from pathlib import Path
import factory_mlops.deploy._install as inst

bundle, node, marker = map(Path, sys.argv[1:4])
real_copy = inst._copy_file

def slow_copy(src, dst):
    real_copy(src, dst)
    # one file is in the temp folder: tell the parent (atomically), which kills us now
    tmp = marker.with_name(marker.name + ".part")
    tmp.write_text(str(dst))
    tmp.replace(marker)
    time.sleep(600)

inst._copy_file = slow_copy
inst.install_bundle(bundle, node)
"""


def test_sigkill_during_install_keeps_the_previous_bundle(
    bundles: dict[int, Path], signer: BundleSigner, tmp_path: Path
):
    node = tmp_path / "node"
    good = install_bundle(bundles[1], node, public_key_pem=signer.public_pem())
    marker = tmp_path / "copying"
    env = {k: v for k, v in os.environ.items() if k not in (SIGNING_KEY_ENV, TRUSTED_KEYS_ENV)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(bundles[2]), str(node), str(marker)],
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the installer exited early: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, "the installer never started copying"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    leftover = Path(marker.read_text()).parent
    assert leftover.parent == node / "bundles" and leftover.name.startswith(".tmp-")
    assert leftover.is_dir()  # killed half-way: the temp folder is all it left
    assert current_bundle(node) == good.path.resolve()
    assert verify_bundle(node / "current")["version"] == 1  # signature checked (node trusts a key)
    assert EdgeModel.load(node).version == 1
    assert [r["version"] for r in read_install_log(node)] == [1]  # a killed attempt records nothing

    new = install_bundle(bundles[2], node)  # the leftover does not get in the way
    assert current_bundle(node) == new.path.resolve()
    assert EdgeModel.load(node).version == 2
    assert sorted(_entries(node)) == sorted([good.path.name, new.path.name, leftover.name])
    old = time.time() - 3600
    os.utime(leftover, (old, old))  # once it is old and its process is gone, it is cleaned
    assert clean_stale_temp(node) == [f"bundles/{leftover.name}"]
    assert sorted(_entries(node)) == sorted([good.path.name, new.path.name])


def test_stale_temp_cleanup_spares_running_installs(tmp_path: Path):
    bundles = tmp_path / "node" / "bundles"
    bundles.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid runs nothing now
    try:
        names = {
            "running": f".tmp-{sleeper.pid}-aaaa",
            "mine": f".tmp-{os.getpid()}-bbbb",
            "dead": f".tmp-{dead.pid}-cccc",
            "legacy": ".tmp-0123456789abcdef",
            "dead but fresh": f".tmp-{dead.pid}-dddd",
        }
        old = time.time() - 3600
        for key, name in names.items():
            (bundles / name).mkdir()
            if key != "dead but fresh":
                os.utime(bundles / name, (old, old))
        removed = clean_stale_temp(tmp_path / "node")
        assert sorted(removed) == sorted(f"bundles/{names[k]}" for k in ("dead", "legacy"))
        assert sorted(p.name for p in bundles.iterdir()) == sorted(
            names[k] for k in ("running", "mine", "dead but fresh")
        )
    finally:
        sleeper.kill()
        sleeper.wait()

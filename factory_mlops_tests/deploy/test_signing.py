"""Ed25519 bundle signing: the plant key, signed bundles, node trust and where keys come from."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from factory_mlops.deploy import (
    SIGNING_KEY_ENV,
    TRUSTED_KEYS_ENV,
    BundleSigner,
    build_bundle,
    bundle_sha256,
    check_parity,
    export_onnx,
    install_bundle,
    sign_bundle,
    trust_public_key,
    trusted_keys,
    verify_bundle,
)
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import BundleError, SigningKeyError
from factory_mlops_tests.deploy._synthetic import SPEC, train
from factory_mlops_tests.deploy.test_bundle import LINEAGE, REFERENCE

KEY_PATH = Path("keys") / "bundle_signing_ed25519.pem"


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(TRUSTED_KEYS_ENV, raising=False)


@pytest.fixture(scope="module")
def onnx_bytes() -> bytes:
    return export_onnx(train(seed=0).model, len(SPEC.feature_names))


def make_signed_bundle(
    out_dir: Path, signer: BundleSigner | None, version: int = 1, onnx_bytes: bytes | None = None
) -> Path:
    """A bundle of the seed-0 model, signed by `signer` (unsigned when None)."""
    trained = train(seed=0)
    onnx_bytes = onnx_bytes or export_onnx(trained.model, len(SPEC.feature_names))
    return build_bundle(
        out_dir,
        plant_id="plant_a",
        model_name="plant_a_failure",
        version=version,
        onnx_bytes=onnx_bytes,
        spec=SPEC,
        threshold=0.4,
        lineage=LINEAGE,
        parity=check_parity(trained.model, onnx_bytes, trained.X),
        extra_files={"reference.json": REFERENCE},
        signer=signer,
    )


def test_sign_and_verify_round_trip():
    signer = BundleSigner.generate()
    data = b"0123abcd" * 8
    signature = signer.sign(data)
    assert len(signature) == 64
    signer.public_key.verify(signature, data)  # raises InvalidSignature if wrong
    raw = signer.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert signer.key_id == hashlib.sha256(raw).hexdigest()[:16]
    loaded = serialization.load_pem_public_key(signer.public_pem())
    assert loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    again = BundleSigner.from_private_pem(signer.private_pem())
    assert again.key_id == signer.key_id
    assert "private_key" not in repr(signer)


def test_home_key_is_created_once_with_private_permissions(tmp_path: Path):
    signer = BundleSigner.from_env_or_home(tmp_path)
    key_file = tmp_path / KEY_PATH
    assert signer.path == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert BundleSigner.from_env_or_home(tmp_path).key_id == signer.key_id  # loaded, not recreated
    public = key_file.parent / "bundle_signing_ed25519.pub.pem"
    assert public.read_bytes() == signer.public_pem()
    assert sorted(p.name for p in key_file.parent.iterdir()) == [
        "bundle_signing_ed25519.pem",
        "bundle_signing_ed25519.pub.pem",
    ]


def test_env_key_wins_and_broken_keys_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    plant = BundleSigner.generate()
    path = tmp_path / "plant.pem"
    path.write_bytes(plant.private_pem())
    monkeypatch.setenv(SIGNING_KEY_ENV, str(path))
    assert BundleSigner.from_env_or_home(tmp_path / "home").key_id == plant.key_id
    assert not (tmp_path / "home" / "keys").exists()  # the home key is not created

    monkeypatch.setenv(SIGNING_KEY_ENV, str(tmp_path / "nope.pem"))
    with pytest.raises(
        SigningKeyError, match=rf"\${SIGNING_KEY_ENV}: signing key .*nope\.pem does not exist"
    ):
        BundleSigner.from_env_or_home(tmp_path)

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv(SIGNING_KEY_ENV, str(path))
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        BundleSigner.from_env_or_home(tmp_path)

    path.write_bytes(
        plant.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(SigningKeyError, match="encrypted"):
        BundleSigner.from_env_or_home(tmp_path)

    path.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        BundleSigner.from_env_or_home(tmp_path)


RACE = """
import json, sys, time
from pathlib import Path
from factory_mlops.deploy import BundleSigner
ready, go, roots = Path(sys.argv[1]), Path(sys.argv[2]), [Path(r) for r in sys.argv[3:]]
ready.write_text("ok")
while not go.exists():
    time.sleep(0.0005)
print(json.dumps([BundleSigner.from_env_or_home(r).key_id for r in roots]))
"""


def test_concurrent_first_use_creates_one_key(tmp_path: Path):
    """Two processes creating the home key at the same moment, 25 times: one key per home."""
    roots = [tmp_path / f"home{i}" for i in range(25)]
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if k != SIGNING_KEY_ENV}
    procs = []
    for n in range(2):
        ready = tmp_path / f"ready{n}"
        cmd = [sys.executable, "-c", textwrap.dedent(RACE), str(ready), str(go), *map(str, roots)]
        procs.append(
            (ready, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
        )
    deadline = time.monotonic() + 120
    while not all(r.exists() for r, _ in procs):
        assert time.monotonic() < deadline, "child processes did not start"
        time.sleep(0.01)
    go.write_text("go")
    outputs = []
    for _, proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
    for root, kid in zip(roots, outputs[0], strict=True):
        assert BundleSigner.from_env_or_home(root).key_id == kid
        names = sorted(p.name for p in (root / "keys").iterdir())
        assert names == ["bundle_signing_ed25519.pem", "bundle_signing_ed25519.pub.pem"]  # no temp
    assert len(set(outputs[0])) == len(roots)  # every home got its own key


def test_signed_bundle_carries_a_signature_of_the_manifest_digest(
    tmp_path: Path, onnx_bytes: bytes
):
    signer = BundleSigner.generate()
    bundle = make_signed_bundle(tmp_path / "b", signer, onnx_bytes=onnx_bytes)
    manifest = json.loads((bundle / "manifest.json").read_text())
    doc = json.loads((bundle / "signature.json").read_text())
    assert doc == {
        "algorithm": "ed25519",
        "key_id": signer.key_id,
        "signed": "manifest_sha256",
        "manifest_sha256": manifest["manifest_sha256"],
        "signature": doc["signature"],
    }
    signer.public_key.verify(
        base64.b64decode(doc["signature"]), manifest["manifest_sha256"].encode("ascii")
    )
    assert "signature.json" not in manifest["files"]
    assert verify_bundle(bundle, trusted_keys=signer.trusted_keys()) == manifest
    assert (
        bundle_sha256(bundle) == hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    )
    assert not list(tmp_path.glob(".tmp-*"))


def test_extra_file_named_signature_json_is_refused(tmp_path: Path, onnx_bytes: bytes):
    trained = train(seed=0)
    with pytest.raises(BundleError, match="collides"):
        build_bundle(
            tmp_path / "b",
            plant_id="p",
            model_name="m",
            version=1,
            onnx_bytes=onnx_bytes,
            spec=SPEC,
            threshold=0.5,
            lineage={},
            parity=check_parity(trained.model, onnx_bytes, trained.X),
            extra_files={"signature.json": b"{}"},
        )


def test_trust_public_key_is_atomic_and_idempotent(tmp_path: Path):
    signer = BundleSigner.generate()
    node = tmp_path / "node"
    assert trusted_keys(node) == {}
    assert trust_public_key(node, signer.public_pem()) == signer.key_id
    path = node / "trusted_keys" / f"{signer.key_id}.pem"
    mtime = path.stat().st_mtime_ns
    assert trust_public_key(node, signer.public_pem()) == signer.key_id
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    keys = trusted_keys(node)
    assert list(keys) == [signer.key_id] and keys.source == str(path.parent)
    with pytest.raises(SigningKeyError, match="public_pem is not a PEM public key"):
        trust_public_key(node, b"garbage")
    with pytest.raises(SigningKeyError, match="not an Ed25519 public key"):
        rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        trust_public_key(
            node,
            rsa_pub.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )


def test_trusted_keys_come_from_argument_env_or_node(
    tmp_path: Path, onnx_bytes: bytes, monkeypatch: pytest.MonkeyPatch
):
    plant, other = BundleSigner.generate(), BundleSigner.generate()
    bundle = make_signed_bundle(tmp_path / "b", plant, onnx_bytes=onnx_bytes)
    unsigned = make_signed_bundle(tmp_path / "u", None, onnx_bytes=onnx_bytes)

    # no key anywhere: checksums only, signed or not
    verify_bundle(bundle)
    verify_bundle(unsigned)
    with pytest.raises(BundleError, match="must be signed but no key is trusted"):
        verify_bundle(unsigned, require_signature=True)

    # explicit keys
    verify_bundle(bundle, trusted_keys=plant.trusted_keys())
    with pytest.raises(BundleError, match=f"signed by key {plant.key_id}, which is not trusted"):
        verify_bundle(bundle, trusted_keys=other.trusted_keys())
    verify_bundle(unsigned, trusted_keys={})  # explicitly none

    # $FACTORY_MLOPS_TRUSTED_KEYS
    folder = tmp_path / "trusted"
    trust_public_key(tmp_path / "x", plant.public_pem())
    folder.mkdir()
    (folder / "plant.pem").write_bytes(plant.public_pem())  # any file name; the id is computed
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(folder))
    verify_bundle(bundle)
    with pytest.raises(BundleError, match=rf"is not signed .*\${TRUSTED_KEYS_ENV}"):
        verify_bundle(unsigned)
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(tmp_path / "missing"))
    with pytest.raises(SigningKeyError, match="does not exist"):
        verify_bundle(bundle)
    (folder / "broken.pem").write_text("nope")
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(folder))
    with pytest.raises(SigningKeyError, match=r"broken\.pem"):
        verify_bundle(bundle)
    monkeypatch.delenv(TRUSTED_KEYS_ENV)

    # the node a bundle is installed on
    node = tmp_path / "node"
    install_bundle(unsigned, node)
    verify_bundle(node / "current")
    trust_public_key(node, plant.public_pem())
    with pytest.raises(BundleError, match=r"is not signed .*node/trusted_keys trusts"):
        verify_bundle(node / "current")  # the node now refuses its unsigned bundle ...
    with pytest.raises(BundleError, match="is not signed"):
        EdgeModel.load(node)  # ... and so does the runtime
    installed = install_bundle(bundle, node)
    assert installed.key_id == plant.key_id
    assert EdgeModel.load(node).bundle_sha256 == bundle_sha256(bundle)


def test_sign_bundle_signs_an_unsigned_bundle_without_changing_its_identity(
    tmp_path: Path, onnx_bytes: bytes
):
    signer = BundleSigner.generate()
    bundle = make_signed_bundle(tmp_path / "b", None, onnx_bytes=onnx_bytes)
    sha = bundle_sha256(bundle)
    node = tmp_path / "node"
    old = install_bundle(bundle, node)  # installed unsigned on a node without keys
    assert sign_bundle(bundle, signer) == signer.key_id
    assert bundle_sha256(bundle) == sha
    verify_bundle(bundle, trusted_keys=signer.trusted_keys(), require_signature=True)
    # the node now trusts the key: its unsigned copy of the same bundle is replaced by the signed one
    new = install_bundle(bundle, node, public_key_pem=signer.public_pem(), require_signature=True)
    assert new.path == old.path and new.key_id == signer.key_id
    assert (new.path / "signature.json").is_file()
    assert len(list((node / "bundles").glob(".broken-*"))) == 1  # the unsigned copy, set aside
    assert EdgeModel.load(node).version == 1

"""Security of the edge service (issue 23, items 1-4), on the real ASGI app over httpx.

Client tokens, JSON only, `at` bounded by the node clock, no bare 500s, a streamed-body cap, and
bundles that must be signed by a key pinned in the node's configuration (outside its folder).
The socket-level checks (TLS, timeouts, connection limit, `--host`) are in test_security_served.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from factory_mlops.bundle import (
    CURRENT_LINK,
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    NodeConfig,
    manifest_digest,
    trust_public_key,
)
from factory_mlops.deploy import BundleSigner, install_bundle, sign_bundle
from factory_mlops.edge import TOKEN_PREFIX, ClientTokens, create_token, revoke_token
from factory_mlops.edge._service import MAX_BODY_BYTES, build_app
from factory_mlops.errors import SigningKeyError
from factory_mlops_tests.deploy._synthetic import START
from factory_mlops_tests.edge.test_service import (
    HOUR,
    Client,
    make_service_bundle,
    plant_config,
    run_cli,
    serve,
    window,
    write_plant_yaml,
)

pytestmark = pytest.mark.security

STEP = pd.Timedelta(minutes=10)


@pytest.fixture(scope="module")
def signer() -> BundleSigner:
    return BundleSigner.generate()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, signer: BundleSigner) -> dict[str, Path]:
    """v1 and v2 signed by `signer`; `unsigned` is v3 without a signature."""
    root = tmp_path_factory.mktemp("signed")
    out = {}
    for v in (1, 2):
        b = make_service_bundle(root / f"v{v}", version=v)
        sign_bundle(b, signer)
        out[f"v{v}"] = b
    out["unsigned"] = make_service_bundle(root / "v3", version=3)
    return out


@pytest.fixture
def secured(
    tmp_path: Path, signed: dict[str, Path], signer: BundleSigner
) -> tuple[Path, NodeConfig]:
    """A node with signed v1 installed and its node config (pinned key) outside the node folder."""
    node = tmp_path / "home" / "edge" / "plant_a" / "edge_1"
    install_bundle(signed["v1"], node, public_key_pem=signer.public_pem())
    config = NodeConfig(tmp_path / "home" / "edge_config" / "plant_a" / "edge_1.json")
    config.pin_key(signer.public_pem())
    return node, config


def secure_serve(node: Path, config: NodeConfig, **kw: Any) -> Client:
    kw.setdefault("allow_unsigned", False)
    return serve(node, plant_config(), node_config=config, **kw)


def post(
    c: Client,
    body: Any,
    token: str | None,
    content_type: str | None = "application/json",
) -> httpx.Response:
    headers = {}
    if content_type is not None:
        headers["content-type"] = content_type
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.loop.run_until_complete(c.http.post("/predict", content=content, headers=headers))


def health(c: Client, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return c.loop.run_until_complete(c.http.get("/health", headers=headers))


def history_body(machine: str = "press_00") -> dict[str, Any]:
    return {"machine_id": machine, "readings": window(machine, START, START + 3 * HOUR)}


@pytest.fixture
def authed(secured: tuple[Path, NodeConfig]) -> Iterator[tuple[Client, str, NodeConfig, Path]]:
    node, config = secured
    token = create_token(config, "historian")
    c = secure_serve(node, config, require_auth=True)
    yield c, token, config, node
    c.close()


# ---------------------------------------------------------------------------- authentication
def test_predict_needs_a_valid_token_and_a_revoked_one_stops_working(authed):
    c, token, config, node = authed
    for bad in (None, "", "fmt_not-a-token", token + "x", token[:-1]):
        resp = post(c, history_body(), bad)
        assert resp.status_code == 401, (bad, resp.text)
        assert "Bearer" in resp.json()["error"] and resp.headers["www-authenticate"] == "Bearer"
    assert health(c, token).json()["predictions_logged"] == 0  # nothing was scored or logged
    assert post(c, history_body(), token).status_code == 200
    revoke_token(config, "historian")
    assert post(c, history_body("press_01"), token).status_code == 401
    assert not (node / "edge_config").exists()  # the tokens never live in the node folder
    assert token not in config.path.read_text()  # stored hashed


def test_the_config_with_the_tokens_is_private(authed):
    _, _, config, _ = authed
    assert config.path.stat().st_mode & 0o777 == 0o600
    assert config.path.parent.stat().st_mode & 0o777 == 0o700


def test_health_without_credentials_tells_only_the_status(authed, signed):
    c, token, _, node = authed
    # make the last reload fail, so there is an error (with paths) to leak
    bad = shutil.copytree(signed["unsigned"], node / "bundles" / "v3-unsigned")
    (node / "next").symlink_to(bad.relative_to(node))
    (node / "next").replace(node / CURRENT_LINK)
    anonymous = health(c)
    assert anonymous.json() == {"status": "degraded"}
    assert str(node) not in anonymous.text
    full = health(c, token).json()
    assert full["status"] == "degraded" and "not signed" in full["last_reload_error"]
    assert full["log_path"].startswith(str(node))


# ---------------------------------------------------------------------------- JSON only
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_only_json_is_accepted(authed, content_type):
    c, token, _, _ = authed
    resp = post(c, history_body(), token, content_type=content_type)
    assert resp.status_code == 415, resp.text
    assert "application/json" in resp.json()["error"]
    assert post(c, history_body(), token, "application/json; charset=utf-8").status_code == 200


# ---------------------------------------------------------------------------- the node clock
def _now_readings(machine: str, hours: int) -> list[dict[str, Any]]:
    """`hours` of the synthetic readings, shifted so they end just before the node's clock."""
    src = window(machine, START, START + hours * HOUR)
    end = pd.Timestamp.now(tz="UTC").floor("10min")
    shift = end - (START + hours * HOUR)
    out = []
    for r in src:
        t = pd.Timestamp(r["timestamp"]) + shift
        out.append({**r, "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return out


def test_a_future_at_is_refused_and_does_not_lock_the_real_feed_out(secured):
    node, config = secured
    token = create_token(config, "historian")
    c = secure_serve(node, config, require_auth=True, clock_skew_s=300.0)
    try:
        readings = _now_readings("press_00", 3)
        half = len(readings) // 2
        ahead = (pd.Timestamp.now(tz="UTC") + HOUR).ceil("10min")
        # the attack of the issue: a reading in the step before `at`, `at` an hour ahead
        fake = {**readings[0], "timestamp": (ahead - STEP / 2).strftime("%Y-%m-%dT%H:%M:%SZ")}
        at = ahead.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"machine_id": "press_00", "readings": [*readings[:half], fake], "at": at}
        attack = post(c, body, token)
        assert attack.status_code == 422, attack.text
        err = attack.json()["error"]
        assert err.startswith(f"at = '{at}'") and "node clock" in err and "300 s" in err
        old = (pd.Timestamp.now(tz="UTC") - 2 * HOUR).floor("10min").strftime("%Y-%m-%dT%H:%M:%SZ")
        stale = post(c, {"machine_id": "press_00", "readings": readings[:half], "at": old}, token)
        assert stale.status_code == 422 and "outside the window" in stale.json()["error"]
        # the machine's real feed goes on
        first = post(c, {"machine_id": "press_00", "readings": readings[:half]}, token)
        assert first.status_code == 200, first.text
        rest = post(c, {"machine_id": "press_00", "readings": readings[half:]}, token)
        assert rest.status_code == 200, rest.text
    finally:
        c.close()


# ---------------------------------------------------------------------------- no bare 500s
def _one(ts: str) -> dict[str, Any]:
    return {"timestamp": ts, "barrel_temp_c": 230.0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"machine_id": "press_00", "readings": [_one("9999-12-31T23:50:00Z")]}, "9999"),
        ({"machine_id": "press_00", "readings": [_one("0001-01-01T00:00:00Z")]}, "0001"),
        (
            {
                "machine_id": "press_00",
                "readings": [_one("2026-06-01T00:00:00Z")],
                "at": "9999-01-01T00:00:00Z",
            },
            "at = '9999-01-01T00:00:00Z'",
        ),
        (
            {
                "machine_id": "press_00",
                "readings": [_one("2026-06-01T00:00:00Z")],
                "at": "0001-01-01T00:00:00+00:00",
            },
            "at = '0001-01-01T00:00:00+00:00'",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'{"machine_id": "press_00", "readings": [' + b"[" * 5000 + b"]" * 5000 + b"]}", "nested"),
        (b'{"machine_id": ' + b"1" * 5000 + b"}", "not valid JSON"),
    ],
    ids=[
        "reading-9999",
        "reading-0001",
        "at-9999",
        "at-0001",
        "nested",
        "nested-reading",
        "huge-int",
    ],
)
def test_absurd_years_and_deep_json_get_a_422_not_a_500(authed, body, message):
    c, token, _, _ = authed
    resp = post(c, body, token)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["error"]


def test_health_recovers_once_current_points_at_a_good_bundle_again(authed, signed):
    c, token, _, node = authed
    good = (node / CURRENT_LINK).readlink()
    broken = node / "bundles" / "broken"
    broken.mkdir()
    (node / "next").symlink_to(Path("bundles") / "broken")
    (node / "next").replace(node / CURRENT_LINK)
    assert health(c, token).json()["status"] == "degraded"
    (node / "next").symlink_to(good)
    (node / "next").replace(node / CURRENT_LINK)
    h = health(c, token).json()
    assert h["status"] == "ok" and h["last_reload_error"] is None and h["model_version"] == 1


# ---------------------------------------------------------------------------- body limits
def test_a_streamed_body_over_the_limit_is_refused_before_parsing(authed):
    c, token, _, _ = authed
    sent = 0

    async def chunks():
        nonlocal sent
        piece = b" " * 65536
        while sent < 3 * MAX_BODY_BYTES:
            sent += len(piece)
            yield piece

    resp = c.loop.run_until_complete(
        c.http.post(
            "/predict",
            content=chunks(),
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
    )
    assert resp.status_code == 413, resp.text
    assert str(MAX_BODY_BYTES) in resp.json()["error"]


# ---------------------------------------------------------------------------- bundles fail closed
def test_an_unsigned_bundle_is_refused_by_default(tmp_path, signed):
    node = tmp_path / "node"
    install_bundle(signed["unsigned"], node)
    config = NodeConfig(tmp_path / "node.json")
    # the library default (build_app without allow_unsigned): fail closed
    c = Client(build_app(node, plant=plant_config(), node_id="edge_1", node_config=config))
    try:
        resp = health(c)
        assert resp.status_code == 503 and resp.json()["status"] == "no_model"
        err = c.app.state.service.serving.last_reload_error
        assert "no signing key is pinned" in err and str(config.path) in err
    finally:
        c.close()


def test_a_key_dropped_into_trusted_keys_is_not_trusted_unless_pinned(secured, tmp_path, signed):
    node, config = secured
    attacker = BundleSigner.generate()
    forged = shutil.copytree(signed["unsigned"], tmp_path / "forged")
    sign_bundle(forged, attacker)
    trust_public_key(node, attacker.public_pem())  # the attacker can write the node folder
    install_bundle(forged, node)  # ... and install there (the node folder trusts the key now)
    c = secure_serve(node, config)
    try:
        serving = c.app.state.service.serving
        assert serving.model is None
        assert "not trusted here" in serving.last_reload_error
        assert attacker.key_id in serving.last_reload_error
    finally:
        c.close()


def test_removing_the_signature_and_recomputing_the_manifest_digest_is_refused(secured, signed):
    node, config = secured
    c = secure_serve(node, config)
    try:
        assert c.app.state.service.serving.model.version == 1
        # the attack of the issue: copy the live bundle, drop signature + trusted_keys, silence alarms
        live = (node / CURRENT_LINK).resolve()
        copy = shutil.copytree(live, node / "bundles" / "v1-quiet")
        (copy / SIGNATURE_FILE).unlink()
        shutil.rmtree(node / "trusted_keys")
        manifest = json.loads((copy / MANIFEST_FILE).read_text())
        manifest["threshold"] = 1.0
        manifest[MANIFEST_DIGEST_KEY] = manifest_digest(manifest)
        (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
        (node / "next").symlink_to(Path("bundles") / "v1-quiet")
        (node / "next").replace(node / CURRENT_LINK)
        serving = c.app.state.service.serving
        serving.maybe_reload(force=True)
        assert serving.model.threshold != 1.0 and "not signed" in serving.last_reload_error
    finally:
        c.close()


# ---------------------------------------------------------------------------- the CLI
def test_the_token_and_key_commands_manage_the_node_config(tmp_path, signer, capsys):
    plant_yaml = write_plant_yaml(tmp_path)
    home = tmp_path / "home"
    node_args = ["--plant", str(plant_yaml), "--node", "edge_1", "--home", str(home)]
    config = NodeConfig(home / "edge_config" / "plant_a" / "edge_1.json")
    assert run_cli(["edge", "token", "create", "--name", "historian", *node_args]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith(TOKEN_PREFIX) and ClientTokens(config).check(token) == "historian"
    assert run_cli(["edge", "token", "create", "--name", "historian", *node_args]) == 1
    assert "already exists" in capsys.readouterr().err
    assert run_cli(["edge", "token", "list", *node_args]) == 0
    listed = capsys.readouterr().out
    assert "historian" in listed and token not in listed
    pem = tmp_path / "plant.pub.pem"
    pem.write_bytes(signer.public_pem())
    assert run_cli(["edge", "key", "pin", str(pem), *node_args]) == 0
    fingerprint = capsys.readouterr().out.strip()
    assert set(config.pinned_keys()) == {signer.key_id} and len(fingerprint) == 64
    assert run_cli(["edge", "key", "unpin", fingerprint, *node_args]) == 0
    assert not config.pinned_keys()
    assert run_cli(["edge", "token", "revoke", "--name", "historian", *node_args]) == 0
    assert ClientTokens(config).check(token) is None
    assert run_cli(["edge", "token", "revoke", "--name", "historian", *node_args]) == 1
    assert "no token named 'historian'" in capsys.readouterr().err


def test_a_pinned_entry_edited_by_hand_is_an_error_not_a_narrower_trust(secured):
    _, config = secured
    doc = json.loads(config.path.read_text())
    doc["pinned_keys"][0]["public_key_pem"] = BundleSigner.generate().public_pem().decode()
    config.path.write_text(json.dumps(doc))
    with pytest.raises(SigningKeyError, match="hashes to fingerprint"):
        config.pinned_keys()

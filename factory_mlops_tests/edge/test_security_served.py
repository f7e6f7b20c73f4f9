"""Security of the served edge node: `factory-mlops edge serve` in a subprocess, real sockets.

`--host` refusals, TLS with a self-signed certificate, header and body timeouts, the connection
limit, and the chunked-body cap (issue 23, items 1 and 2). The app-level checks are in
test_security.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from benchmarks._machine import free_port
from factory_mlops.bundle import NodeConfig
from factory_mlops.deploy import BundleSigner, install_bundle, sign_bundle
from factory_mlops.edge import create_token
from factory_mlops.edge._service import MAX_BODY_BYTES
from factory_mlops_tests.deploy._synthetic import START
from factory_mlops_tests.edge.test_load import SERVE
from factory_mlops_tests.edge.test_service import (
    HOUR,
    make_service_bundle,
    window,
    write_plant_yaml,
)

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Node:
    plant_yaml: Path
    home: Path
    config: NodeConfig
    token: str | None


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    stderr: Path

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BundleSigner]:
    signer = BundleSigner.generate()
    bundle = make_service_bundle(tmp_path_factory.mktemp("served") / "v1")
    sign_bundle(bundle, signer)
    return bundle, signer


def make_node(tmp_path: Path, signed_bundle: tuple[Path, BundleSigner], token: bool) -> Node:
    bundle, signer = signed_bundle
    home = tmp_path / "home"
    install_bundle(bundle, home / "edge" / "plant_a" / "edge_1")
    config = NodeConfig(home / "edge_config" / "plant_a" / "edge_1.json")
    config.pin_key(signer.public_pem())
    return Node(
        write_plant_yaml(tmp_path), home, config, create_token(config, "test") if token else None
    )


def serve_argv(node: Node, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        SERVE,
        "edge",
        "serve",
        "--plant",
        str(node.plant_yaml),
        "--node",
        "edge_1",
        "--home",
        str(node.home),
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--max-future-s",
        "off",
        "--clock-skew-s",
        "off",
        *extra,
    ]


@contextlib.contextmanager
def served(
    tmp_path: Path,
    node: Node,
    *extra: str,
    host: str = "127.0.0.1",
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
) -> Iterator[Served]:
    port = free_port()
    stderr = tmp_path / f"serve-{port}.stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            serve_argv(node, port, "--host", host, *extra),
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
        )
    s = Served(f"{scheme}://127.0.0.1:{port}", port, proc, stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"edge serve exited {proc.returncode}: {stderr.read_text()}")
            try:
                if httpx.get(f"{s.url}/health", timeout=1.0, verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"edge serve not healthy after 60 s: {stderr.read_text()}")
            time.sleep(0.1)
        yield s
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def predict_body() -> bytes:
    return json.dumps(
        {"machine_id": "press_00", "readings": window("press_00", START, START + 3 * HOUR)}
    ).encode()


def read_status(sock: socket.socket, timeout: float = 10.0) -> int | None:
    """The status code of the response on `sock`, None when the server closed without one."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split()[1])


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------------------- --host
def test_a_non_loopback_host_without_client_tokens_is_refused(tmp_path, signed_bundle):
    node = make_node(tmp_path, signed_bundle, token=False)
    proc = subprocess.run(
        serve_argv(node, free_port(), "--host", "0.0.0.0"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert "refusing to listen on 0.0.0.0 without client authentication" in proc.stderr
    assert "edge token create" in proc.stderr and "--insecure-no-auth" in proc.stderr


def test_insecure_no_auth_is_warned_loudly_and_health_stays_terse(tmp_path, signed_bundle):
    node = make_node(tmp_path, signed_bundle, token=False)
    with served(tmp_path, node, "--insecure-no-auth", host="0.0.0.0") as s:
        assert "WARNING: --insecure-no-auth" in s.stderr.read_text()
        assert httpx.get(f"{s.url}/health").json() == {"status": "ok"}


# ---------------------------------------------------------------------------- TLS
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge_1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "edge.crt", tmp_path / "edge.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_a_self_signed_certificate_and_a_token(tmp_path, signed_bundle):
    node = make_node(tmp_path, signed_bundle, token=True)
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    extra = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with served(tmp_path, node, *extra, scheme="https", verify=trust) as s:
        auth = {"authorization": f"Bearer {node.token}", "content-type": "application/json"}
        with httpx.Client(verify=trust, base_url=s.url) as c:
            assert c.get("/health").json() == {"status": "ok"}
            assert c.get("/health", headers=auth).json()["model_version"] == 1
            assert c.post("/predict", content=predict_body()).status_code == 401
            resp = c.post("/predict", content=predict_body(), headers=auth)
            assert resp.status_code == 200, resp.text
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on the TLS port
            httpx.get(f"http://127.0.0.1:{s.port}/health", timeout=5)
        with pytest.raises(httpx.ConnectError):  # nor to a client that does not trust the cert
            httpx.get(f"{s.url}/health", timeout=5)


# ---------------------------------------------------------------------------- slow clients
def test_slow_headers_are_cut_off_and_health_keeps_answering(tmp_path, signed_bundle):
    node = make_node(tmp_path, signed_bundle, token=True)
    with served(tmp_path, node, "--header-timeout-s", "1", "--max-connections", "64") as s:
        slow = []
        for i in range(300):  # more than --max-connections: the limit is not what saves it
            sock = socket.create_connection(("127.0.0.1", s.port))
            if i % 2:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: edge\r\nX-Slow: ")  # never finished
            slow.append(sock)
        time.sleep(1.5)
        assert all(closed_by_server(sock, 3.0) for sock in slow)
        for sock in slow:
            sock.close()
        assert [httpx.get(f"{s.url}/health", timeout=2).status_code for _ in range(20)] == [
            200
        ] * 20


def test_a_slow_body_gets_408_and_the_connection_limit_gives_503(tmp_path, signed_bundle):
    node = make_node(tmp_path, signed_bundle, token=True)
    extra = ("--body-timeout-s", "2", "--max-connections", "4")
    with served(tmp_path, node, *extra) as s:
        head = (
            f"POST /predict HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {node.token}\r\nContent-Length: 1000\r\n\r\n"
        ).encode()
        held = []
        for _ in range(3):  # uvicorn counts the new connection too: the 4th request is over
            sock = socket.create_connection(("127.0.0.1", s.port))
            sock.sendall(head + b'{"machine_id": ')  # and the rest never comes
            held.append(sock)
        time.sleep(0.3)
        assert httpx.get(f"{s.url}/health", timeout=2).status_code == 503  # over the limit
        assert [read_status(sock, 5.0) for sock in held] == [408] * 3
        for sock in held:
            sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{s.url}/health", timeout=2).status_code == 200


# ---------------------------------------------------------------------------- body size
def test_a_chunked_body_is_capped_like_a_sized_one(tmp_path, signed_bundle):
    node = make_node(tmp_path, signed_bundle, token=True)
    with served(tmp_path, node) as s:
        before = s.rss_kib()
        statuses = []
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", s.port))
            sock.sendall(
                (
                    f"POST /predict HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                    f"Authorization: Bearer {node.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
                ).encode()
            )
            piece = b" " * (1 << 20)
            chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            sent = 0
            sock.settimeout(10)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                while sent < 25 * MAX_BODY_BYTES:  # 100 MB unless the server stops reading
                    sock.sendall(chunk)
                    sent += len(piece)
            statuses.append(read_status(sock))
            sock.close()
        assert statuses == [413] * 4
        grown_mib = (s.rss_kib() - before) / 1024
        assert grown_mib < 64, f"the service grew by {grown_mib:.0f} MiB"

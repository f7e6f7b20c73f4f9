"""Client authentication of the edge service: per-client bearer tokens, stored hashed.

A token is created once (`create_token`), shown once, and only its sha256 is kept, in the node's
configuration file (`factory_mlops.bundle.NodeConfig`, outside the node folder). A client sends it
as `Authorization: Bearer <token>`. `ClientTokens.check` hashes what was presented and compares it
with EVERY stored digest with `hmac.compare_digest` (constant time, no early exit), so neither the
timing nor the order of the tokens tells an attacker anything. The file is re-read when it changes
(one `stat` per check), so a revoked token stops working without a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from typing import Any

from factory_mlops.bundle import CLIENT_TOKENS, NodeConfig
from factory_mlops.errors import FactoryMLOpsError

#: Prefix of every token (recognisable in a leaked log or a secret scanner).
TOKEN_PREFIX = "fmt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TokenError(FactoryMLOpsError, ValueError):
    """A token operation was refused (bad name, duplicate, unknown token)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(config: NodeConfig, name: str) -> str:
    """Create a client token named `name`; returns the token (its only copy: store it now).

    Raises:
        TokenError: the name is not `[A-Za-z0-9][A-Za-z0-9_.-]*` (at most 64) or already exists.
    """
    if not _NAME.match(name):
        raise TokenError(
            f"token name {name!r} must start with a letter or digit and hold only letters, digits, "
            f"'_', '.', '-' (at most 64), e.g. 'historian' or 'line1-plc'"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def change(doc: dict[str, Any]) -> None:
        tokens = doc.get(CLIENT_TOKENS, [])
        if any(t.get("name") == name for t in tokens):
            raise TokenError(
                f"a token named {name!r} already exists in {config.path}; revoke it first "
                f"(edge token revoke --name {name}) or pick another name"
            )
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        tokens.append({"name": name, "sha256": _digest(token), "created_at": created})
        doc[CLIENT_TOKENS] = tokens

    config.update(change)
    return token


def revoke_token(config: NodeConfig, name: str) -> None:
    """Remove the token named `name`.

    Raises:
        TokenError: no token has that name.
    """
    found = False

    def change(doc: dict[str, Any]) -> None:
        nonlocal found
        tokens = doc.get(CLIENT_TOKENS, [])
        keep = [t for t in tokens if t.get("name") != name]
        found = len(keep) != len(tokens)
        doc[CLIENT_TOKENS] = keep

    config.update(change)
    if not found:
        names = [t["name"] for t in list_tokens(config)]
        raise TokenError(f"no token named {name!r} in {config.path}; its tokens are {names}")


def list_tokens(config: NodeConfig) -> list[dict[str, str]]:
    """Name and creation time of every token (never the digest)."""
    return [
        {"name": str(t.get("name")), "created_at": str(t.get("created_at"))}
        for t in config.read().get(CLIENT_TOKENS, [])
    ]


class ClientTokens:
    """The tokens a running service accepts, re-read from the node config whenever it changes."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._digests: list[tuple[str, bytes]] = []
        self._refresh()

    def _refresh(self) -> None:
        stamp = self.config.stamp()
        if stamp == self._stamp and stamp is not None:
            return
        with self._lock:
            tokens = self.config.read().get(CLIENT_TOKENS, []) if stamp is not None else []
            self._digests = [
                (str(t.get("name")), bytes.fromhex(str(t.get("sha256"))))
                for t in tokens
                if isinstance(t, dict) and isinstance(t.get("sha256"), str)
            ]
            self._stamp = stamp

    def __len__(self) -> int:
        self._refresh()
        return len(self._digests)

    def check(self, presented: str | None) -> str | None:
        """The name of the client whose token `presented` is, or None (constant-time compare)."""
        try:
            self._refresh()
        except FactoryMLOpsError:
            return None  # an unreadable config authenticates nobody
        if not presented:
            return None
        got = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        who = None
        for name, want in self._digests:  # compare against all: no early exit
            if hmac.compare_digest(got, want):
                who = name
        return who


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()

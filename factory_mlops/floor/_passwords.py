"""Password hashing for the shop-floor page: scrypt from the standard library, salted per user.

Stored form: `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised later and old
hashes still verify. Verification compares in constant time. Nothing here is a secret of the
server: a stolen database gives salted scrypt hashes, not passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost (2^14 = 16 MiB of memory per hash with r=8, ~50 ms on one core).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Shortest password accepted.
MIN_PASSWORD_LENGTH = 10
#: Longest password accepted (scrypt hashes any length; this bounds the work of a request).
MAX_PASSWORD_LENGTH = 256

_PREFIX = "scrypt"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * 2, dklen=32
    )


def check_password_policy(password: str) -> None:
    """Raise ValueError (saying what to change) for a password that is too short or too long."""
    if not isinstance(password, str):
        raise ValueError("the password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a short sentence is easy to remember and hard to guess)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"the password has {len(password)} characters; at most {MAX_PASSWORD_LENGTH} are accepted"
        )


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password` (after `check_password_policy`)."""
    check_password_policy(password)
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash; False for a wrong password or a malformed hash."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = base64.b64decode(digest)
        got = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


#: A hash no password matches: verified against when the user does not exist, so a login for an
#: unknown name takes as long as one for a known name (no user enumeration by timing).
DUMMY_HASH = f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(b'0' * 16)}${_b64(b'1' * 32)}"

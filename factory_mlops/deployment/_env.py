"""Environment references in the deployment file: ``${ENV:NAME}``, and no secret written in clear.

A value may hold one or more ``${ENV:NAME}`` references; each is replaced by the variable's value
when the file is loaded. In a URL's user-info part (``scheme://user:${ENV:PW}@host/db``) the value
is percent-quoted, so the variable holds the raw password. Secrets (a ``password`` key, the
password of a URL) must be references: a password written in the file is an error.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from factory_mlops.errors import DeploymentError

_REF = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}")
_ANY_REF = re.compile(r"\$\{[^}]*\}?")
#: Keys whose value is a secret wherever they appear.
SECRET_KEYS = frozenset({"password", "token"})


@dataclass(frozen=True)
class UrlParts:
    """The parts of a URL as written (references not resolved): scheme, user, password, host,
    port, path (without the leading slash) and query."""

    scheme: str
    username: str
    password: str
    host: str
    port: str
    path: str
    query: str


def references(raw: str) -> list[str]:
    """The variable names ``raw`` refers to, in order."""
    return _REF.findall(raw)


def whole_reference(raw: str) -> str | None:
    """NAME when ``raw`` is exactly one ``${ENV:NAME}``, else None."""
    m = _REF.fullmatch(raw.strip())
    return m.group(1) if m else None


def _check_syntax(key: str, raw: str) -> None:
    for m in _ANY_REF.finditer(raw):
        if not _REF.fullmatch(m.group(0)):
            raise DeploymentError(
                f"{key}: {m.group(0)!r} is not an environment reference; write ${{ENV:NAME}} "
                "(NAME: letters, digits and '_', not starting with a digit)"
            )


def substitute(key: str, raw: str, environ: Mapping[str, str], *, quote: bool = False) -> str:
    """``raw`` with every reference replaced by its variable's value.

    Raises:
        DeploymentError: naming `key` and the variable, when a variable is unset or empty.
    """
    _check_syntax(key, raw)

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        got = environ.get(name)
        if got is None or got == "":
            raise DeploymentError(
                f"{key} refers to ${{ENV:{name}}}, but the environment variable {name} is "
                f"{'empty' if got == '' else 'not set'}: export {name}=... before running, "
                "or change the deployment file"
            )
        return urllib.parse.quote(got, safe="") if quote else got

    return _REF.sub(value, raw)


def split_url(key: str, raw: str) -> UrlParts:
    """The parts of a URL as written, references kept.

    Raises:
        DeploymentError: naming `key`, when `raw` has no ``scheme://`` or its host is empty.
    """
    scheme, sep, rest = raw.partition("://")
    if not sep or not scheme or _REF.search(scheme):
        raise DeploymentError(
            f"{key}: {mask_url(raw)!r} is not a URL; write scheme://user@host:port/name"
        )
    authority, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo, hostport = "", authority
    username, _, password = userinfo.partition(":")
    if hostport.startswith("["):  # [ipv6]:port
        host, _, port = hostport[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    if not host:
        raise DeploymentError(f"{key}: {mask_url(raw)!r} names no host; write scheme://host/...")
    return UrlParts(scheme, username, password, host, port, path, query)


def resolve_url(key: str, raw: str, environ: Mapping[str, str]) -> str:
    """A URL with its references replaced, user and password percent-quoted.

    A URL that is one whole reference (``${ENV:DATABASE_URL}``) is taken as the variable holds it.
    """
    if whole_reference(raw):
        return substitute(key, raw, environ)
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return substitute(key, raw, environ)
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return substitute(key, raw, environ)
    return (
        f"{substitute(key, scheme, environ)}://{substitute(key, userinfo, environ, quote=True)}@"
        f"{substitute(key, hostport, environ)}{slash}{substitute(key, tail, environ)}"
    )


def check_no_clear_secret(key: str, raw: str, *, is_url: bool) -> None:
    """Refuse a secret written in the file: a `password`/`token` key, or a URL's password, must be
    ``${ENV:NAME}``.

    Raises:
        DeploymentError: naming `key` and how to write it.
    """
    leaf = key.rsplit(".", 1)[-1]
    if leaf in SECRET_KEYS and raw and not whole_reference(raw):
        raise DeploymentError(
            f"{key} is written in clear in the deployment file; secrets come from the "
            f"environment: write {key.split('.')[-1]}: ${{ENV:NAME}} and export NAME"
        )
    if not is_url or whole_reference(raw):
        return
    scheme, sep, rest = raw.partition("://")
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    if sep and at and ":" in userinfo:
        password = userinfo.partition(":")[2]
        if password and not whole_reference(password):
            raise DeploymentError(
                f"{key}: the password in {mask_url(raw)!r} is written in clear in the deployment "
                f"file; write {scheme}://{userinfo.partition(':')[0]}:${{ENV:NAME}}@... and export "
                "NAME (the raw password; it is quoted for the URL)"
            )


def mask_url(url: str) -> str:
    """`url` with the password (if any) shown as ``***``; references are kept as written."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user, _, password = userinfo.partition(":")
    shown = password if whole_reference(password) else "***"
    return f"{scheme}://{user}:{shown}@{hostport}{slash}{tail}"


def current_environ() -> Mapping[str, str]:
    return os.environ

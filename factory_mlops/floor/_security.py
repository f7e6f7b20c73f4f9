"""Request checks of the shop-floor page: sessions from cookies, CSRF, same-origin posts, login throttling.

* Session: an HttpOnly, SameSite=Strict cookie holding a random token (the database has its hash).
* CSRF: every form carries the session's CSRF token (synchronizer token); the login form, which
  has no session yet, carries a random token that must equal a cookie set with the form (double
  submit). A post whose `Origin` (or, without it, `Referer`) names another site is refused too.
* Login throttling: after `MAX_FAILURES` wrong passwords for a name within `WINDOW`, that name is
  locked for the rest of the window (per server process; the clear message says how long).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from starlette.requests import Request

SESSION_COOKIE = "fm_session"
LOGIN_CSRF_COOKIE = "fm_login_csrf"
CSRF_FIELD = "csrf_token"
#: Largest form body accepted (bytes): a verdict with a 2000-character comment is well under it.
MAX_FORM_BYTES = 32 * 1024


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: object, expected: str | None) -> bool:
    """Constant-time comparison of a posted token with the expected one (False when either is missing)."""
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def cross_site(request: Request) -> str | None:
    """Why a state-changing request comes from another site (None when it does not).

    Browsers send `Origin` on POST; its host must be the host the request was sent to. Without an
    Origin, a `Referer` is checked the same way; a request with neither (a script, curl) passes on
    to the CSRF token check, which it cannot pass without a session's token.
    """
    host = request.headers.get("host", "")
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value:
            if value == "null":
                return f"the form was sent from an opaque origin ({header}: null)"
            netloc = urlsplit(value).netloc
            if netloc != host:
                return f"the form was sent from {netloc or value!r}, not from this page ({host})"
            return None
    return None


class LoginThrottle:
    """Counts wrong passwords per user name; refuses a name after `max_failures` within `window_s`."""

    def __init__(self, max_failures: int = 5, window_s: float = 900.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, name: str, now: float) -> deque[float]:
        q = self._failures.setdefault(name, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def locked_for(self, name: str) -> float:
        """Seconds the name stays locked (0 when it may try)."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(name.lower(), now)
            if len(q) < self.max_failures:
                return 0.0
            return max(0.0, q[0] + self.window_s - now)

    def failed(self, name: str) -> None:
        with self._lock:
            self._recent(name.lower(), time.monotonic()).append(time.monotonic())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name.lower(), None)

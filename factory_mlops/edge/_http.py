"""The HTTP protocol `edge serve` runs uvicorn with: h11 plus a timeout on request headers.

uvicorn times out idle keep-alive connections only after a response; a connection that opens and
then sends its request line and headers slowly (or never) is kept forever, so a few thousand of
them exhaust the node's file descriptors and every health check fails. `header_timeout_protocol`
returns uvicorn's h11 protocol with a timer armed when a connection opens and again when a
response completes: if the next request's headers are not complete when it fires, the connection
is closed. The body has its own limit in the app (`EdgeService.body_timeout_s`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: Largest request head (request line + headers) h11 buffers, bytes.
MAX_HEADER_BYTES = 16 * 1024


class _HeaderTimeoutH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._timed_cycle: Any = None

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._timed_cycle = self.cycle  # a new request head replaces the cycle
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.cycle is self._timed_cycle and not self.transport.is_closing():
            self.logger.info(
                "closing a connection whose request headers did not arrive within %g s",
                self.header_timeout_s,
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.cycle is not self._timed_cycle:
            self._disarm_header_timer()  # the request head is complete

    def on_response_complete(self) -> None:
        self._arm_header_timer()  # before: a pipelined request handled inside disarms it
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def header_timeout_protocol(header_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol closing connections whose request head takes over `header_timeout_s`.

    Pass it as `uvicorn.Config(http=...)`.
    """
    if not header_timeout_s > 0:
        raise ValueError(f"header_timeout_s must be > 0, got {header_timeout_s}")
    return type(
        "HeaderTimeoutH11Protocol",
        (_HeaderTimeoutH11Protocol,),
        {"header_timeout_s": float(header_timeout_s)},
    )

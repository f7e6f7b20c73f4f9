"""The edge service: an ASGI app (starlette) that scores posted readings next to the line.

    POST /predict   readings of one machine -> features at a step end -> score, alarm, top-k
                    contributions; logged durably BEFORE the response is sent
    GET  /health    model, reload and log status (to an authenticated client; others get the
                    status word only)

Security (docs/security.md): with `require_auth`, `/predict` needs `Authorization: Bearer <token>`
of a client token of the node config (`_auth.py`), checked before the body is read. Only
`application/json` bodies are read (415 otherwise); a body is capped at `MAX_BODY_BYTES` whether
it comes with a Content-Length or chunked (413 as soon as the cap is passed, before parsing) and
must arrive within `body_timeout_s` (408). Bundles must be signed by a key pinned in the node
config unless `allow_unsigned` (`ServingModel`).

Durability: each scored request hands its log row to a `GroupCommitWriter` and awaits the commit
of the transaction that holds it (SQLite WAL, `synchronous=FULL`); rows queued meanwhile share that
transaction. A 200 response therefore means the row is on disk; if the commit fails the request
gets a 503 and the prediction is not returned. The CPU work of a request (checks, features,
ONNX, explanation) is well under a millisecond and runs inline; only the commit is awaited.

Hot reload: every request calls `ServingModel.maybe_reload()` (a readlink + stat at most once per
`reload_interval_s`), so a bundle installed with `install_bundle` goes live without a restart and a
broken one is refused while the previous model keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from factory_mlops.bundle import NodeConfig
from factory_mlops.config import PlantConfig
from factory_mlops.edge._auth import ClientTokens, bearer_token
from factory_mlops.edge._prediction_log import (
    PREDICTION_LOG_FILE,
    GroupCommitWriter,
    LogWriteError,
    PredictionLog,
)
from factory_mlops.edge._serving import InputError, NoModelError, ServingModel
from factory_mlops.features import FeatureContext

#: Largest accepted request body (bytes): ~10 000 readings of a dozen sensors.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Media type of every accepted `/predict` body.
JSON_TYPE = "application/json"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class _BodyTooLarge(Exception):
    pass


class EdgeService:
    """Request handlers over one `ServingModel` and one durable log writer (see module doc).

    Args:
        tokens: the client tokens `/predict` (and the full `/health`) need; None = no
            authentication.
        open_health: give the full `/health` to unauthenticated clients; default: only when
            there is no authentication at all.
        body_timeout_s: a request body must arrive within this long.
    """

    def __init__(
        self,
        serving: ServingModel,
        writer: GroupCommitWriter,
        node_id: str,
        *,
        tokens: ClientTokens | None = None,
        open_health: bool | None = None,
        body_timeout_s: float = 30.0,
    ) -> None:
        self.serving = serving
        self.writer = writer
        self.node_id = node_id
        self.tokens = tokens
        self.open_health = tokens is None if open_health is None else bool(open_health)
        self.body_timeout_s = float(body_timeout_s)
        self.started = time.monotonic()

    def _client(self, request: Request) -> str | None:
        """The authenticated client's token name; `""` when there is no authentication."""
        if self.tokens is None:
            return ""
        return self.tokens.check(bearer_token(request.headers.get("authorization")))

    async def _read_body(self, request: Request) -> bytes:
        """The body, refused as soon as it passes `MAX_BODY_BYTES` (chunked or not)."""
        parts: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _BodyTooLarge
                parts.append(chunk)
        return b"".join(parts)

    async def predict(self, request: Request) -> JSONResponse:
        """`POST /predict`: score one machine's step end; 200 only after the log row committed."""
        t0 = time.perf_counter_ns()
        if self._client(request) is None:
            return JSONResponse(
                {
                    "error": "this node needs a client token: send Authorization: Bearer <token>; "
                    "the node's administrator creates one with `factory-mlops edge token create`"
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != JSON_TYPE:
            return _error(
                415,
                f"the body must be {JSON_TYPE} (got content-type {media or 'none'!r}); send the "
                f"request as JSON with Content-Type: {JSON_TYPE}",
            )
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            return _error(
                413, f"the body has {size} bytes; send at most {MAX_BODY_BYTES} per request"
            )
        try:
            raw = await self._read_body(request)
        except _BodyTooLarge:
            return _error(
                413,
                f"the body passed {MAX_BODY_BYTES} bytes; send at most {MAX_BODY_BYTES} per request",
            )
        except TimeoutError:
            return _error(
                408, f"the body did not arrive within {self.body_timeout_s:g} s; send it at once"
            )
        try:
            body = json.loads(raw)
        except RecursionError:
            return _error(
                422, "the body is nested too deeply to parse; send a flat JSON object of readings"
            )
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(422, f"the body is not valid JSON ({exc}); send a JSON object")
        self.serving.maybe_reload()
        try:
            pred = self.serving.predict(body, started_ns=t0)
        except InputError as exc:
            return _error(422, str(exc))
        except NoModelError as exc:
            return _error(503, str(exc))
        plant_id = self.serving.plant_id or ""
        try:
            await self.writer.write(pred.record(plant_id, self.node_id).as_row())
        except LogWriteError as exc:
            return _error(
                503,
                f"prediction {pred.prediction_id} could not be logged, so it is not "
                f"returned: {exc}; retry the request",
            )
        return JSONResponse(pred.response())

    async def health(self, request: Request) -> JSONResponse:
        """`GET /health`: 200 with the status (`ok`/`degraded`), 503 when no model is live.

        Without credentials (when the node authenticates) only `{"status": ...}`: no paths, no
        reload errors, no versions.
        """
        self.serving.maybe_reload()
        h = self.serving.health()
        code = 503 if h["status"] == "no_model" else 200
        if not self.open_health and not self._client(request):
            return JSONResponse({"status": h["status"]}, status_code=code)
        body = {
            "status": h["status"],
            "plant_id": h["plant_id"],
            "node_id": self.node_id,
            "model_version": h["model_version"],
            "task": h["task"],
            "bundle_sha256": h["bundle_sha256"],
            "feature_spec_hash": h["feature_spec_hash"],
            "loaded_at": h["loaded_at"],
            "last_reload_at": h["last_reload_at"],
            "last_reload_error": h["last_reload_error"],
            "reloads": h["reloads"],
            "machines": h["machines"],
            "predictions_logged": self.writer.committed,
            "log_commits": self.writer.commits,
            "log_path": str(self.writer.log.path),
            "last_log_error": self.writer.last_error,
            "uptime_s": round(time.monotonic() - self.started, 3),
        }
        return JSONResponse(body, status_code=code)


def build_app(
    node_dir: Path,
    *,
    plant: PlantConfig | None,
    node_id: str,
    log_path: Path | None = None,
    explain_k: int = 5,
    reload_interval_s: float = 1.0,
    retry_failed_s: float = 30.0,
    context: FeatureContext | None = None,
    max_future_s: float | None = None,
    node_config: NodeConfig | None = None,
    allow_unsigned: bool = False,
    require_auth: bool = False,
    open_health: bool | None = None,
    clock_skew_s: float | None = None,
    body_timeout_s: float = 30.0,
) -> Starlette:
    """The edge service of one node folder as an ASGI app (run it with uvicorn, one worker).

    Args:
        node_dir: the edge node folder (`current` -> installed bundle); it may hold no bundle yet.
        plant: the plant config for input checks; None = the bundle's `contract.json`.
        node_id: this node's id, written to every log row and reported by `/health`.
        log_path: the SQLite prediction log; default `<node_dir>/predictions.sqlite`, the file the
            batch path (`score_day`) appends to, so a node keeps one log.
        explain_k: top-k contributions per prediction (0 = no explanations).
        reload_interval_s: how often (at most) a request looks whether `current` changed.
        retry_failed_s: how long a bundle that failed to load is left alone before a retry.
        context: installs/maintenance for feature specs that need them.
        max_future_s: refuse readings more than this many seconds ahead of the node's clock
            (the CLI passes the plant contract's `max_future_s`); None = no check.
        node_config: the node's configuration (outside `node_dir`): the pinned signing keys and
            the client tokens.
        allow_unsigned: serve bundles no pinned key signed (checksums only). Off: a node with no
            pinned key serves nothing.
        require_auth: `/predict` needs a client token of `node_config`.
        open_health: the full `/health` for unauthenticated clients (default: only without auth).
        clock_skew_s: `at` must be within the node clock +- this (one step more into the past);
            None = no check.
        body_timeout_s: a request body must arrive within this long (else 408).

    Returns:
        The app; `app.state.service` is the `EdgeService` (its `serving` and `writer`).
    """
    node_dir = Path(node_dir)
    log = PredictionLog(Path(log_path) if log_path is not None else node_dir / PREDICTION_LOG_FILE)
    serving = ServingModel(
        node_dir,
        plant,
        reload_interval_s=reload_interval_s,
        retry_failed_s=retry_failed_s,
        explain_k=explain_k,
        context=context,
        max_future_s=max_future_s,
        node_config=node_config,
        allow_unsigned=allow_unsigned,
        clock_skew_s=clock_skew_s,
    )
    if require_auth and node_config is None:
        raise ValueError("require_auth needs the node_config that holds the client tokens")
    tokens = ClientTokens(node_config) if require_auth and node_config is not None else None
    writer = GroupCommitWriter(log)
    service = EdgeService(
        serving,
        writer,
        node_id,
        tokens=tokens,
        open_health=open_health,
        body_timeout_s=body_timeout_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.close()  # commits what is queued: every awaited row was acknowledged or failed

    app = Starlette(
        routes=[
            Route("/predict", service.predict, methods=["POST"]),
            Route("/health", service.health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app

"""The ASGI app of the report server (see the package docstring)."""

from __future__ import annotations

import html
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from factory_mlops.home import FactoryHome
from factory_mlops.links import REPORTS_ROUTE

_TITLE = re.compile(rb"<title>(.*?)</title>", re.S)
# Evidently's pages run inline scripts: no script CSP here; the server only ever sends its own files.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _title(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(4096)
    m = _TITLE.search(head)
    return html.unescape(m.group(1).decode("utf-8", "replace")) if m else path.stem


def _index(root: Path) -> str:
    rows: list[str] = []
    plants = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for plant in plants:
        pages = sorted(plant.rglob("*.html"), reverse=True)
        rows.append(f"<h2>{html.escape(plant.name)}</h2>")
        if not pages:
            rows.append("<p>no pages yet</p>")
            continue
        rows.append("<ul>")
        for page in pages:
            rel = page.relative_to(root).as_posix()
            rows.append(
                f'<li><a href="{REPORTS_ROUTE}/{html.escape(rel)}">{html.escape(rel)}</a> '
                f"— {html.escape(_title(page))}</li>"
            )
        rows.append("</ul>")
    if not plants:
        rows.append(f"<p>no reports under {html.escape(str(root))} yet: run the daily job.</p>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>factory_mlops reports</title></head><body><h1>Drift reports</h1>"
        + "".join(rows)
        + "</body></html>"
    )


class _Headers:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_reports_app(home: FactoryHome) -> Starlette:
    """The report server of `home`: `<home>/reports/` under `/reports`, an index at `/`."""
    root = home.root / "reports"

    async def index(request: Request) -> Response:
        return HTMLResponse(_index(root))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Mount(REPORTS_ROUTE, StaticFiles(directory=root, check_dir=False), name="reports"),
        ]
    )
    app.add_middleware(_Headers)
    return app

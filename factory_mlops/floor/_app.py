"""The shop-floor feedback page: an ASGI app (starlette + Jinja2 templates, no front-end build).

    GET  /login, POST /login, POST /logout
    GET  /                         the plants the person may see (straight to it when only one)
    GET  /plants/{plant}           alerts, the "label these first" queue, recent predictions per
                                   machine with their explanation in words and Wrong / Right
    POST /plants/{plant}/feedback  one verdict (+ optional failure type, new type, comment)
    GET  /plants/{plant}/impact    what feedback did: queue vs threshold, retrains, models
    GET  /plants/{plant}/log       every verdict with who and the comment (engineers only)
    GET  /healthz                  liveness (no login)

Every plant route checks that the logged-in person holds a role in that plant (403 otherwise),
every POST checks the session's CSRF token and that the form came from this site (403), and bad
input is answered with the page and a message saying what to fix (400; 409 for a second verdict
of the same person on the same prediction), storing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from factory_mlops.config import PlantConfig, discover_plants, load_plant_config
from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.feedback import (
    DuplicateFeedbackError,
    FeedbackError,
    FeedbackStore,
    known_failure_types,
    record_feedback,
)
from factory_mlops.floor._plant_view import PlantView
from factory_mlops.floor._security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    MAX_FORM_BYTES,
    SESSION_COOKIE,
    LoginThrottle,
    cross_site,
    new_token,
    same_token,
)
from factory_mlops.floor._users import SESSION_HOURS, Session, UserStore
from factory_mlops.home import FactoryHome

_HERE = Path(__file__).parent
NEW_TYPE = "__new__"

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request the page refuses: HTTP status and the message shown to the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class FloorSettings:
    """How the page is served."""

    secure_cookies: bool = (
        False  # set when served over HTTPS (behind a proxy): cookies only over TLS
    )
    window_hours: float = 24.0  # recent predictions shown per machine
    queue_size: int = 6  # uncertain predictions in "label these first"


class FloorApp:
    """The page's state: plants, stores, templates; `asgi` is the Starlette app."""

    def __init__(
        self,
        home: FactoryHome,
        *,
        plants_dir: str | Path | None = None,
        store: FeedbackStore | None = None,
        settings: FloorSettings | None = None,
    ) -> None:
        from factory_mlops.config import default_plants_dir

        self.home = home
        self.plants_dir = Path(plants_dir) if plants_dir is not None else default_plants_dir()
        self.store = store or FeedbackStore.for_home(home)
        self.users = UserStore(self.store.engine)
        self.settings = settings or FloorSettings()
        self.throttle = LoginThrottle()
        self._configs: dict[str, PlantConfig] = {}
        self._known_types: dict[str, tuple[float, list[str]]] = {}
        self.templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.asgi = Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/login", self.login_page, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/", self.index),
                Route("/plants/{plant}", self.plant_page),
                Route("/plants/{plant}/feedback", self.submit, methods=["POST"]),
                Route("/plants/{plant}/impact", self.impact_page),
                Route("/plants/{plant}/log", self.log_page),
                Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
            ],
            exception_handlers={Refused: self._refused},
        )

    # -- helpers -----------------------------------------------------------------------------

    def config(self, plant_id: str) -> PlantConfig | None:
        if plant_id not in self._configs:
            path = discover_plants(self.plants_dir).get(plant_id)
            if path is None:
                return None
            self._configs[plant_id] = load_plant_config(path)
        return self._configs[plant_id]

    def warm_up(self) -> list[str]:
        """Load every plant's config, installed bundles and failure types once (the first verdict of a
        shift should not wait for imports and file parsing). Returns the plants loaded."""
        from factory_mlops.feedback import plant_nodes  # noqa: F401  (imports the edge package)

        loaded = []
        for plant_id in discover_plants(self.plants_dir):
            config = self.config(plant_id)
            if config is None or not self.home.edge(plant_id).is_dir():
                continue
            PlantView(config, self.home, self.store).bundles()
            self.failure_types(config)
            loaded.append(plant_id)
        return loaded

    def failure_types(self, config: PlantConfig) -> list[str]:
        """The plant's known failure types (maintenance log + feedback), cached for a minute."""
        import time

        cached = self._known_types.get(config.plant_id)
        if cached is None or time.monotonic() - cached[0] > 60:
            cached = (time.monotonic(), sorted(known_failure_types(config, self.home, self.store)))
            self._known_types[config.plant_id] = cached
        return cached[1]

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    async def _refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        session = await run_in_threadpool(self._session, request)
        return self.render(
            "error.html", exc.status, title="Not possible", message=exc.message, session=session
        )

    def _session(self, request: Request) -> Session | None:
        return self.users.session(request.cookies.get(SESSION_COOKIE))

    def _require(
        self, request: Request, plant_id: str, role: str | None = None
    ) -> tuple[Session, PlantConfig]:
        """The session and plant of a plant route, or Refused (403 without access; 404 for no such plant)."""
        session = self._session(request)
        if session is None:
            raise Refused(401, "You are not logged in (or your login has expired). Log in again.")
        have = session.role(plant_id)
        if have is None:
            raise Refused(
                403,
                f"You ({session.username}) have no access to plant {plant_id!r}. Ask an engineer "
                "of that plant to give you a role there.",
            )
        if role == "engineer" and have != "engineer":
            raise Refused(
                403, f"This page is for engineers of {plant_id}; you are an operator there."
            )
        config = self.config(plant_id)
        if config is None:
            raise Refused(
                404,
                f"Plant {plant_id!r} is not configured on this server (no plant.yaml under "
                f"{self.plants_dir}).",
            )
        return session, config

    def _check_post(self, request: Request, form: FormData, session: Session | None) -> None:
        why = cross_site(request)
        if why:
            raise Refused(
                403, f"Refused: {why}. Open the page from this server and send the form again."
            )
        if session is None:
            raise Refused(
                403,
                "Refused: you are not logged in (or your login has expired). Log in and try again.",
            )
        if not same_token(form.get(CSRF_FIELD), session.csrf_token):
            raise Refused(
                403,
                "Refused: the form's security token is missing or out of date (CSRF check). Reload "
                "the page and send the form again.",
            )

    async def _form(self, request: Request) -> FormData:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
            raise Refused(
                413,
                f"The form is too large (at most {MAX_FORM_BYTES // 1024} KB). Shorten the comment.",
            )
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise Refused(415, "Send the form from the page (application/x-www-form-urlencoded).")
        return await request.form(max_files=0, max_fields=20)

    def _cookie_args(self) -> dict[str, Any]:
        return {
            "httponly": True,
            "samesite": "strict",
            "secure": self.settings.secure_cookies,
            "path": "/",
        }

    # -- routes ------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def login_page(
        self, request: Request, *, message: str = "", status: int = 200, username: str = ""
    ) -> Response:
        token = new_token()
        nxt = request.query_params.get("next", "/")
        response = self.render(
            "login.html",
            status,
            title="Log in",
            csrf_token=token,
            message=message,
            username=username,
            next=nxt if nxt.startswith("/") and not nxt.startswith("//") else "/",
        )
        response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **self._cookie_args())
        return response

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        why = cross_site(request)
        if why:
            raise Refused(403, f"Refused: {why}.")
        if not same_token(form.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE)):
            return await self.login_page(
                request,
                status=403,
                message="The login form was out of date (security "
                "token check). It has been reloaded: log in again.",
            )
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        if not username or not password:
            return await self.login_page(
                request,
                status=400,
                username=username,
                message="Enter your user name and your password.",
            )
        wait = self.throttle.locked_for(username)
        if wait > 0:
            return await self.login_page(
                request,
                status=429,
                username=username,
                message=(
                    f"Too many wrong passwords for {username}. Try again in {int(wait // 60) + 1} minutes, or ask an "
                    "engineer to reset your password."
                ),
            )
        ok = await run_in_threadpool(self.users.authenticate, username, password)
        if not ok:
            self.throttle.failed(username)
            return await self.login_page(
                request,
                status=401,
                username=username,
                message="User name or password is wrong. Check both and try again.",
            )
        self.throttle.succeeded(username)
        token = await run_in_threadpool(self.users.start_session, username)
        nxt = str(form.get("next", "/"))
        target = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            SESSION_COOKIE, token, max_age=SESSION_HOURS * 3600, **self._cookie_args()
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        form = await self._form(request)
        session = await run_in_threadpool(self._session, request)
        self._check_post(request, form, session)
        await run_in_threadpool(self.users.end_session, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def index(self, request: Request) -> Response:
        session = await run_in_threadpool(self._session, request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        plants = sorted(session.roles)
        if len(plants) == 1:
            return RedirectResponse(f"/plants/{quote(plants[0])}", status_code=303)
        return self.render("plants.html", title="Your plants", session=session, plants=plants)

    def _plant_context(self, request: Request, plant_id: str) -> dict[str, Any]:
        try:
            session, config = self._require(request, plant_id)
        except Refused as exc:
            if exc.status == 401:
                raise _Login(request.url.path) from None
            raise
        view = PlantView(config, self.home, self.store, window_hours=self.settings.window_hours)
        by = request.query_params.get("queue", "threshold")
        by = by if by in ("threshold", "least_sure") else "threshold"
        stored = request.query_params.get("stored", "")
        impact = view.queue_status()
        return {
            "session": session,
            "plant": config,
            "role": session.role(plant_id),
            "queue_by": by,
            "queue": view.uncertain(session.username, limit=self.settings.queue_size, by=by),
            "machines": view.recent(session.username),
            "alerts": view.alerts(),
            "latest": view.latest_time(),
            "failure_types": self.failure_types(config),
            "impact": impact,
            "stored": self.store.get(int(stored)) if stored.isdigit() else None,
            "new_type": NEW_TYPE,
            "csrf_token": session.csrf_token,
            "window_hours": self.settings.window_hours,
        }

    async def plant_page(self, request: Request) -> Response:
        plant_id = request.path_params["plant"]
        try:
            ctx = await run_in_threadpool(self._plant_context, request, plant_id)
        except _Login as login:
            return RedirectResponse(f"/login?next={quote(login.path)}", status_code=303)
        stored = ctx["stored"]
        if stored is not None and (
            stored.plant_id != plant_id or stored.by != ctx["session"].username
        ):
            ctx["stored"] = None  # only your own verdict of this plant is echoed back
        return self.render("plant.html", title=ctx["plant"].name or plant_id, **ctx)

    async def submit(self, request: Request) -> Response:
        plant_id = request.path_params["plant"]
        form = await self._form(request)
        logged_in = await run_in_threadpool(self._session, request)
        self._check_post(request, form, logged_in)
        session, config = await run_in_threadpool(self._require, request, plant_id)
        try:
            record = await run_in_threadpool(self._record, config, session, form)
        except DuplicateFeedbackError as exc:
            return await self._resubmit(
                request,
                plant_id,
                409,
                f"Already recorded: you judged this prediction "
                f"before ({exc.existing.verdict}, #{exc.existing.id}). One verdict per "
                "person and prediction; nothing new was stored.",
            )
        except FeedbackError as exc:
            return await self._resubmit(request, plant_id, 400, f"Not stored: {exc}")
        return RedirectResponse(
            f"/plants/{quote(plant_id)}?stored={record.id}#stored", status_code=303
        )

    def _record(self, config: PlantConfig, session: Session, form: FormData) -> Any:
        pid = str(form.get("prediction_id", "")).strip()
        verdict = str(form.get("verdict", "")).strip().lower()
        if not pid:
            raise FeedbackError(
                "the form names no prediction; press Wrong or Right on a prediction card"
            )
        if verdict not in ("wrong", "right"):
            raise FeedbackError(f"press Wrong or Right (got verdict {verdict[:40]!r})")
        view = PlantView(config, self.home, self.store)
        card = view.get(pid, explained=False)
        if card is None:
            raise FeedbackError(
                f"prediction {pid[:80]!r} is not a prediction of plant {config.plant_id}; "
                "reload the page and pick one of its cards"
            )
        choice = str(form.get("failure_type", "")).strip()
        typed = str(form.get("new_failure_type", "")).strip()
        known = self.failure_types(config)
        new = False
        if choice == NEW_TYPE or (not choice and typed):
            if not typed:
                raise FeedbackError(
                    "you chose 'new type' but did not write its name; write it in the box "
                    "'new failure type'"
                )
            ftype: str | None = typed
            new = typed not in known
        elif choice:
            if typed:
                raise FeedbackError(
                    f"pick a failure type from the list ({choice!r}) or write a new one "
                    f"({typed!r}), not both"
                )
            ftype = choice
        else:
            ftype = None
        if ftype is not None and ((verdict == "wrong") == card.alarm):
            meaning = card.wrong_means if verdict == "wrong" else "no failure was coming"
            raise FeedbackError(
                f"{verdict.capitalize()} on this {'alarm' if card.alarm else 'prediction'} means "
                f"{meaning}, so there is no failure type to record; leave the failure type empty"
            )
        comment = str(form.get("comment", ""))
        record = record_feedback(
            config,
            self.home,
            prediction_id=pid,
            verdict=verdict,
            by=session.username,
            failure_type=ftype,
            new_failure_type=new,
            comment=comment,
            store=self.store,
        )
        if new:
            self._known_types.pop(config.plant_id, None)
        return record

    async def _resubmit(
        self, request: Request, plant_id: str, status: int, message: str
    ) -> Response:
        ctx = await run_in_threadpool(self._plant_context, request, plant_id)
        return self.render(
            "plant.html", status, title=ctx["plant"].name or plant_id, message=message, **ctx
        )

    async def impact_page(self, request: Request) -> Response:
        plant_id = request.path_params["plant"]
        session, config = await run_in_threadpool(self._require, request, plant_id)
        view = PlantView(config, self.home, self.store)
        impact = await run_in_threadpool(view.impact)
        return self.render(
            "impact.html",
            title=f"What feedback did — {config.name or plant_id}",
            session=session,
            plant=config,
            role=session.role(plant_id),
            impact=impact,
            csrf_token=session.csrf_token,
        )

    async def log_page(self, request: Request) -> Response:
        plant_id = request.path_params["plant"]
        session, config = await run_in_threadpool(self._require, request, plant_id, "engineer")
        records = await run_in_threadpool(self.store.records, plant_id)
        return self.render(
            "log.html",
            title=f"Feedback log — {config.name or plant_id}",
            session=session,
            plant=config,
            role=session.role(plant_id),
            records=list(reversed(records))[:500],
            total=len(records),
            csrf_token=session.csrf_token,
        )


class _Login(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def create_app(
    home: FactoryHome | str | Path,
    *,
    plants_dir: str | Path | None = None,
    store: FeedbackStore | None = None,
    settings: FloorSettings | None = None,
) -> Starlette:
    """The shop-floor page of a factory home as an ASGI app (serve it with uvicorn)."""
    if not isinstance(home, FactoryHome):
        home = FactoryHome.resolve(home)
    if not home.root.is_dir():
        raise FactoryMLOpsError(
            f"no factory home at {home.root}: run the pipeline (or the demo) first, or pass --home"
        )
    app = FloorApp(home, plants_dir=plants_dir, store=store, settings=settings)
    app.asgi.state.floor = app
    return app.asgi

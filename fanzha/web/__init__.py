"""The web console (issue 7): server-rendered pages for the center, the desks and the stations.

``mount_console(app)`` adds the pages, the static files and the error handling to a
FastAPI application, normally the API's :func:`fanzha.api.main.create_app`, whose
database, settings, login limiter and escalation policy it reuses when present.
Domain packages never import this one.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from fanzha.api.core.security import LoginLimiter
from fanzha.api.deps import Database
from fanzha.settings import Settings, get_settings
from fanzha.web.app import HERE, Console, LoginRequired, PageError, install_filters


def mount_console(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve the console from ``app`` at ``/`` (pages), ``/static`` (assets); the API keeps ``/api``."""
    from fanzha.web.routes import login_redirect, page_error, router

    settings = settings or getattr(app.state, "settings", None) or get_settings()
    db = getattr(app.state, "db", None) or Database(settings.sqlalchemy_url)
    limiter = getattr(app.state, "login_limiter", None) or LoginLimiter(settings.login_attempts_per_minute)
    tz = ZoneInfo(settings.timezone)
    app.state.console = Console(settings=settings, db=db, limiter=limiter, tz=tz)
    install_filters(tz)

    def on_login_required(request: Request, _exc: Exception) -> Response:
        return login_redirect(request)

    def on_page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return page_error(request, exc)

    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(PageError, on_page_error)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.include_router(router)


__all__ = ["mount_console"]

"""The FastAPI application factory and its lifespan.

``create_app(settings)`` wires one :class:`~fanzha.api.deps.Database`, the login
limiter, the escalation policy and the routers. The lifespan runs two background loops
when their intervals are non-zero: the escalation sweep and the webhook outbox
dispatcher (both safe next to other processes doing the same). Tests pass settings with
both intervals at 0 and drive the sweep and the dispatcher themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from fanzha.api.core.security import LoginLimiter
from fanzha.api.deps import Database
from fanzha.api.feed import watch_commits
from fanzha.api.routes import audit, auth, cases, orders, organisations, returns, warnings
from fanzha.api.writer import IntakeArrivals, IntakeWriter
from fanzha.response import escalation, service
from fanzha.response.escalation import DEFAULT_POLICY, EscalationPolicy
from fanzha.response.outbox import Dispatcher
from fanzha.settings import Settings, get_settings
from fanzha.store.db import upgrade

log = logging.getLogger("fanzha.api")
GIL_SWITCH_SECONDS = 0.0005

DESCRIPTION = """\
Joint intake and response (接处警合一): a fraud report creates, in one transaction, a
stop-payment order per receiving account (紧急止付), a block per fraud number (封停号码), a
takedown per domain, a resolution request per payment order number and a trace job.
Bank, carrier and payment desks see only their own organisation's orders and answer them.
Sign in at `/api/auth/token` (OAuth2 password flow) and send `Authorization: Bearer <token>`.
"""


async def _every(seconds: float, name: str, fn: Callable[[], object]) -> None:
    """Run ``fn`` in a worker thread every ``seconds``; log and carry on when it fails."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(fn)
        except Exception:
            log.exception("background %s failed; retrying in %.0f s", name, seconds)


async def _warm_up_tracing(ready: asyncio.Event) -> None:
    """Compile the tracing kernels in the background at start-up (the money-following loop needs them).

    Compiling holds the GIL for seconds on a fresh install, so requests served meanwhile
    are slow: ``/api/ready`` answers 503 until it is done, for a load balancer to wait on.
    """
    from fanzha.tracing.trace import warm_up

    try:
        await asyncio.to_thread(warm_up)
    except Exception:
        log.exception("tracing warm-up failed; the first trace will compile instead")
    finally:
        # Everything built so far (modules, compiled kernels, the app) lives as long as the
        # process: out of the collector's sight, a request no longer pays for full collections
        # that walk all of it (server CPU per report in the intake bench 6.6 -> 2.4-4.1 ms).
        gc.collect()
        gc.freeze()
        ready.set()


async def _watch_commits(db: Database) -> None:
    """Wake this process's desk streams on other processes' commits (see :func:`fanzha.api.feed.watch_commits`)."""
    try:
        await watch_commits(db.feed, db.url, db.sqlite_file)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("commit watcher stopped; desk streams fall back to polling")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    db: Database = app.state.db
    # The event loop and the intake writer share the GIL. At CPython's default 5 ms switch
    # interval the loop, back from every socket or database call, waited up to 5 ms for a
    # busy writer to let go: a convoy that multiplied request latency under load.
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_SECONDS))
    db.start_feed(asyncio.get_running_loop())
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(_warm_up_tracing(app.state.ready)),
                                       asyncio.create_task(_watch_commits(db))]
    dispatcher: Dispatcher | None = None
    if settings.escalation_interval_seconds > 0:

        def sweep() -> None:
            with db.write() as session:
                escalation.sweep(session)

        tasks.append(asyncio.create_task(_every(settings.escalation_interval_seconds, "escalation", sweep)))
    if settings.outbox_interval_seconds > 0:
        dispatcher = Dispatcher(db.sessions)
        tasks.append(asyncio.create_task(_every(settings.outbox_interval_seconds, "outbox", dispatcher.run_until_idle)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if dispatcher is not None:
            dispatcher.close()
        await asyncio.to_thread(app.state.intake_writer.close)
        db.feed.bind(None)
        db.dispose()
        db.close()


def _detail(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, object]:
    return {"detail": [{"loc": list(loc), "msg": msg, "type": kind}]}


def _install_error_handlers(app: FastAPI) -> None:
    def plain(code: int) -> Callable[[Request, Exception], JSONResponse]:
        def handle(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)

        return handle

    app.add_exception_handler(service.NotFound, plain(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(service.Forbidden, plain(status.HTTP_403_FORBIDDEN))
    app.add_exception_handler(service.Conflict, plain(status.HTTP_409_CONFLICT))
    app.add_exception_handler(service.SetupError, plain(status.HTTP_503_SERVICE_UNAVAILABLE))

    def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, service.InvalidInput)
        return JSONResponse(_detail(exc.loc, exc.message, "value_error"), status_code=422)

    def integrity(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("integrity error after retries: %s", exc)
        return JSONResponse({"detail": "conflicting concurrent change; retry the request"}, status_code=409)

    app.add_exception_handler(service.InvalidInput, invalid)
    app.add_exception_handler(IntegrityError, integrity)


def create_app(
    settings: Settings | None = None,
    *,
    policy: EscalationPolicy = DEFAULT_POLICY,
    migrate: bool = False,
    intake_hook: service.IntakeHook | None = None,
) -> FastAPI:
    """The API over ``settings.sqlalchemy_url``; ``migrate`` upgrades the database first.

    ``intake_hook`` is the fault-test seam of :func:`fanzha.response.service.submit_report`.
    """
    settings = settings or get_settings()
    url = settings.sqlalchemy_url
    if migrate:
        upgrade(url)
    app = FastAPI(
        title="fanzha response API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        openapi_tags=[
            {"name": "auth", "description": "Sign in; tokens are short-lived."},
            {"name": "cases", "description": "Intake: one report, every first response."},
            {"name": "orders", "description": "Desks: queues, acknowledge, execute, reject."},
            {"name": "returns", "description": "Freeze after stop-payment and return of frozen money to victims."},
            {"name": "organisations", "description": "Partners and their webhooks."},
            {"name": "audit", "description": "Who read or changed what."},
        ],
    )
    app.state.settings = settings
    app.state.db = Database(url)
    app.state.intake_writer = IntakeWriter(app.state.db)
    app.add_middleware(IntakeArrivals, writer=app.state.intake_writer)
    app.state.policy = policy
    app.state.intake_hook = intake_hook
    app.state.login_limiter = LoginLimiter(settings.login_attempts_per_minute)
    app.state.ready = asyncio.Event()
    _install_error_handlers(app)

    @app.get("/api/health", tags=["auth"])
    def health() -> dict[str, str]:
        """Liveness (no sign-in needed)."""
        return {"status": "ok"}

    @app.get("/api/ready", tags=["auth"], responses={503: {"description": "Still warming up"}})
    def ready() -> JSONResponse:
        """Readiness (no sign-in needed): 503 while the start-up warm-up still compiles kernels."""
        if app.state.ready.is_set():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "warming up"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    for module in (auth, cases, orders, returns, audit, organisations, warnings):
        app.include_router(module.router)
    return app

"""``fanzha serve`` (the response API) and ``fanzha response ...`` (its sweeps, outbox and demo seed)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import typer

from fanzha.cli.common import URL_HELP
from fanzha.cli.common import fail as _fail
from fanzha.cli.common import store_url as _url

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(help="Joint intake and response: escalation sweep, webhook outbox, demo seed.", no_args_is_help=True)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    log_level: str = typer.Option("warning", "--log-level"),
    ack: str = typer.Option("", "--ack", help="Acknowledge deadlines, e.g. 'stop_payment=10m,block=30m'."),
    execute: str = typer.Option("", "--execute", help="Execute deadlines after acknowledging, same format."),
    console: bool = typer.Option(True, "--console/--no-console", help="Serve the web console at / as well."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Worker processes on one port (e.g. one per core)."),
) -> None:
    """Run the response API and the web console (migrates the database first). OpenAPI at /docs."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from fanzha.response.escalation import DEFAULT_POLICY
    from fanzha.settings import get_settings
    from fanzha.store.db import StoreURLError, upgrade

    settings = get_settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    try:
        DEFAULT_POLICY.with_overrides(ack, execute)
        upgrade(settings.sqlalchemy_url)
    except (ValueError, StoreURLError, SQLAlchemyError) as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    # Each worker process builds its own app from these (uvicorn imports worker_app by name).
    os.environ.update({"FANZHA_DATABASE_URL": settings.sqlalchemy_url, _ACK_ENV: ack, _EXECUTE_ENV: execute,
                       _CONSOLE_ENV: "1" if console else ""})
    # Desk streams never end by themselves: on shutdown, give requests in flight this long, then close them
    # (a desk reconnects elsewhere with Last-Event-ID and loses nothing).
    common: dict[str, Any] = {"log_level": log_level, "access_log": False,
                              "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS}
    if workers == 1:
        uvicorn.run(worker_app(), host=host, port=port, **common)
        return
    from fanzha.cli.supervisor import WorkersError, run_workers

    try:  # a socket per worker on one port, so the kernel spreads connections over them
        code = run_workers(workers, host, port, common, grace_seconds=SHUTDOWN_GRACE_SECONDS)
    except WorkersError as exc:
        raise _fail(str(exc)) from None
    if code:
        raise typer.Exit(code)


SHUTDOWN_GRACE_SECONDS = 5


_ACK_ENV, _EXECUTE_ENV, _CONSOLE_ENV = "FANZHA_SERVE_ACK", "FANZHA_SERVE_EXECUTE", "FANZHA_SERVE_CONSOLE"


def worker_app() -> FastAPI:
    """The app one ``fanzha serve`` process runs, from the settings and options the command left in its environment.

    Several workers share the database: their background sweeps are safe side by side,
    desk streams hear other workers' commits (:mod:`fanzha.api.feed`), and login limits
    and user caches are per worker.
    """
    from fanzha.api import create_app
    from fanzha.response.escalation import DEFAULT_POLICY
    from fanzha.settings import Settings

    policy = DEFAULT_POLICY.with_overrides(os.environ.get(_ACK_ENV, ""), os.environ.get(_EXECUTE_ENV, ""))
    application = create_app(Settings(), policy=policy)  # read now: the command set the URL just before
    if os.environ.get(_CONSOLE_ENV, "1"):
        from fanzha.web import mount_console

        mount_console(application)
    return application


@app.command("escalate")
def escalate(url: str | None = typer.Option(None, "--url", help=URL_HELP)) -> None:
    """One escalation sweep: orders past their deadline become 'escalated'. Prints how many."""
    from fanzha.response.escalation import sweep
    from fanzha.store.db import session_factory, session_scope

    with session_scope(session_factory(_url(url), sqlite_immediate=True)) as session:
        ids = sweep(session)
    typer.echo(f"escalated {len(ids)} order(s)")


@app.command("dispatch")
def dispatch(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    forever: bool = typer.Option(False, "--forever", help="Keep polling (Ctrl-C to stop)."),
    interval: float = typer.Option(1.0, "--interval", help="Seconds between polls with --forever."),
) -> None:
    """Deliver due webhook messages from the outbox (safe next to other dispatchers)."""
    from fanzha.response.outbox import Dispatcher
    from fanzha.store.db import session_factory

    dispatcher = Dispatcher(session_factory(_url(url)))
    try:
        while True:
            stats = dispatcher.run_until_idle()
            typer.echo(f"delivered {stats.delivered}, failed {stats.failed} (will retry)")
            if not forever:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.close()


@app.command("seed-demo")
def seed_demo_cmd(url: str | None = typer.Option(None, "--url", help=URL_HELP)) -> None:
    """Add the demo partners and one user per role; prints new users' passwords once."""
    from fanzha.response.seed import seed_demo
    from fanzha.store.db import session_factory, session_scope, upgrade

    target = _url(url)
    upgrade(target)
    with session_scope(session_factory(target)) as session:
        result = seed_demo(session)
    typer.echo(f"organisations added: {result.organisations_added}")
    if not result.passwords:
        typer.echo("no new users (they exist already; their passwords were shown when they were made)")
    for username, password in result.passwords.items():
        typer.echo(f"{username}\t{password}")

"""``fanzha serve`` (the response API) and ``fanzha response ...`` (its sweeps, outbox and demo seed)."""

from __future__ import annotations

import time

import typer

from fanzha.cli.common import URL_HELP
from fanzha.cli.common import fail as _fail
from fanzha.cli.common import store_url as _url

app = typer.Typer(help="Joint intake and response: escalation sweep, webhook outbox, demo seed.", no_args_is_help=True)







def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    log_level: str = typer.Option("warning", "--log-level"),
    ack: str = typer.Option("", "--ack", help="Acknowledge deadlines, e.g. 'stop_payment=10m,block=30m'."),
    execute: str = typer.Option("", "--execute", help="Execute deadlines after acknowledging, same format."),
    console: bool = typer.Option(True, "--console/--no-console", help="Serve the web console at / as well."),
) -> None:
    """Run the response API and the web console (migrates the database first). OpenAPI at /docs."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from fanzha.api import create_app
    from fanzha.response.escalation import DEFAULT_POLICY
    from fanzha.settings import get_settings
    from fanzha.store.db import StoreURLError

    settings = get_settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    try:
        policy = DEFAULT_POLICY.with_overrides(ack, execute)
        application = create_app(settings, policy=policy, migrate=True)
    except (ValueError, StoreURLError, SQLAlchemyError) as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    if console:
        from fanzha.web import mount_console

        mount_console(application)
    uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)


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

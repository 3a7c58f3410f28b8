"""``fanzha db ...``: migrate and inspect the operations store."""

from __future__ import annotations

import typer

from fanzha.cli.common import URL_HELP
from fanzha.cli.common import fail as _fail
from fanzha.cli.common import store_url as _resolve

app = typer.Typer(
    help="Operations database (SQLite by default, PostgreSQL by FANZHA_DATABASE_URL).", no_args_is_help=True
)







@app.command("upgrade")
def upgrade_cmd(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    revision: str = typer.Option("head", "--revision", "-r", help="Target revision."),
) -> None:
    """Migrate the database to the newest schema (creates it if it is a new SQLite file)."""
    from sqlalchemy.exc import SQLAlchemyError

    from fanzha.store.db import StoreURLError, current_revision, display_url, upgrade

    target = _resolve(url)
    try:
        before = current_revision(target)
        upgrade(target, revision)
        after = current_revision(target)
    except StoreURLError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _fail(f"cannot migrate {display_url(target)}: {_first_line(exc)}") from None
    except Exception as exc:  # Alembic reports unknown revisions and broken chains with its own errors
        if type(exc).__module__.startswith("alembic"):
            raise _fail(f"cannot migrate {display_url(target)}: {exc}") from None
        raise
    if before == after:
        typer.echo(f"{display_url(target)}: already at {after or 'base'}")
    else:
        typer.echo(f"{display_url(target)}: {before or 'base'} → {after}")


@app.command("current")
def current_cmd(url: str | None = typer.Option(None, "--url", help=URL_HELP)) -> None:
    """Show the database's schema revision and whether it is up to date (exit 1 if it is not)."""
    from sqlalchemy.exc import SQLAlchemyError

    from fanzha.store.db import StoreURLError, current_revision, display_url, head_revision

    target = _resolve(url)
    try:
        current = current_revision(target)
    except StoreURLError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read {display_url(target)}: {_first_line(exc)}") from None
    head = head_revision()
    state = "up to date" if current == head else "behind: run 'fanzha db upgrade'"
    typer.echo(f"{display_url(target)}: {current or 'base (empty)'} (head {head}, {state})")
    if current != head:
        raise typer.Exit(code=1)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

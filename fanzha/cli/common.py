"""What every command group shares: one way to refuse bad input, one way to find the store."""

from __future__ import annotations

import typer

URL_HELP = "SQLAlchemy URL (default: FANZHA_DATABASE_URL, else the SQLite file under FANZHA_DATA_DIR)."


def fail(message: str) -> typer.Exit:
    """One clear line on stderr and exit code 2, never a traceback."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def store_url(url: str | None) -> str:
    """The given URL, else the configured operations store."""
    if url:
        return url
    from fanzha.settings import get_settings

    return get_settings().sqlalchemy_url

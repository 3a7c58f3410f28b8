"""``fanzha data ...``: import carriers' and banks' exports into the center's contracts."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import and check data (CSV/Parquet with a column mapping; bad rows quarantined).")

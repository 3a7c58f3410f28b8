"""The ``fanzha`` command. Thin: each group parses arguments and calls a capability."""

from __future__ import annotations

import typer

from fanzha.cli import bench, data, sim
from fanzha.cli import db as db_cli
from fanzha.cli import numbers as numbers_cli
from fanzha.cli import serve as serve_cli
from fanzha.cli import trace as trace_cli

app = typer.Typer(
    name="fanzha",
    help="fanzha — open anti-telecom-fraud center (反诈中心).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("simulate")(sim.simulate)
app.command("demo")(sim.demo)
app.add_typer(data.app, name="data")
app.command("trace")(trace_cli.trace)
app.add_typer(bench.app, name="bench")
app.add_typer(numbers_cli.app, name="numbers")
app.add_typer(db_cli.app, name="db")
app.command("serve")(serve_cli.serve)
app.add_typer(serve_cli.app, name="response")


if __name__ == "__main__":  # pragma: no cover
    app()

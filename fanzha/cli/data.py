"""``fanzha data ...``: import carriers' and banks' exports into the center's contracts."""

from __future__ import annotations

from pathlib import Path

import typer

from fanzha.cli.common import fail as _fail

app = typer.Typer(
    help="Import and check data (CSV/Parquet with a column mapping; bad rows quarantined).", no_args_is_help=True
)




@app.command("import")
def import_cmd(
    table: str = typer.Argument(..., help="Contract table: subscribers, accounts, calls, sms, transfers, ..."),
    file: Path = typer.Argument(..., help="CSV or Parquet export to import."),
    mapping: str | None = typer.Option(
        None, "--mapping", "-m", help="Column-mapping YAML file, or the name of a shipped example (see 'mappings')."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: FANZHA_DATA_DIR/parquet)."),
    quarantine: Path | None = typer.Option(
        None, "--quarantine", "-q", help="Quarantine folder (default: FANZHA_DATA_DIR/quarantine)."
    ),
) -> None:
    """Import FILE into TABLE: rows that break the contract go to quarantine with line and reason."""
    from rich.console import Console
    from rich.table import Table

    from fanzha.contracts.importers import REASONS, ContractError, import_file
    from fanzha.contracts.mapping import MappingError

    try:
        rep = import_file(file, table, mapping=mapping, out_dir=out, quarantine_dir=quarantine)
    except (ContractError, MappingError) as exc:
        raise _fail(str(exc)) from None
    console = Console()
    console.print(f"[bold]import[/bold] {rep.source} → {rep.table}")
    t = Table(show_header=True)
    t.add_column("")
    t.add_column("rows", justify="right")
    t.add_row("read", f"{rep.rows_in:,}")
    t.add_row("written", f"{rep.rows_ok:,}", style="green")
    t.add_row("quarantined", f"{rep.rows_quarantined:,}", style="yellow" if rep.rows_quarantined else None)
    for reason, n in rep.reasons.items():
        t.add_row(f"  {reason} ({REASONS.get(reason, '')})", f"{n:,}", style="yellow")
    if rep.blank_lines:
        t.add_row("blank lines skipped", f"{rep.blank_lines:,}", style="dim")
    if rep.multiline_records:
        t.add_row("records spanning several lines (quoted newlines)", f"{rep.multiline_records:,}", style="dim")
    console.print(t)
    rate = rep.rows_in / rep.seconds if rep.seconds else 0.0
    console.print(f"output:     {rep.output}")
    if rep.quarantine:
        console.print(f"quarantine: {rep.quarantine}")
    if rep.ignored_columns:
        console.print(f"[dim]source columns not mapped: {', '.join(rep.ignored_columns)}[/dim]")
    console.print(f"[dim]{rep.seconds:.2f} s, {rate:,.0f} rows/s[/dim]")


@app.command("validate")
def validate_cmd(
    table: str = typer.Argument(..., help="Contract table (inputs or gt_* ground truth)."),
    file: Path = typer.Argument(..., help="Parquet file to check."),
) -> None:
    """Check a Parquet file against TABLE's contract; exit 1 if it does not conform."""
    from rich.console import Console

    from fanzha.contracts.importers import ContractError, validate_file

    try:
        rep = validate_file(table, file)
    except ContractError as exc:
        raise _fail(str(exc)) from None
    console = Console()
    if rep.ok:
        console.print(f"[green]ok[/green]: {file} conforms to {table} ({rep.rows:,} rows)")
        return
    console.print(f"[red]{len(rep.problems)} problem(s)[/red] in {file} ({rep.rows:,} rows) against {table}:")
    for p in rep.problems:
        console.print(f"  - {p}")
    raise typer.Exit(code=1)


@app.command("mappings")
def mappings_cmd() -> None:
    """List the example column mappings shipped with fanzha (usable by name with --mapping)."""
    from rich.console import Console
    from rich.table import Table

    from fanzha.contracts.mapping import builtin_mappings, load_mapping

    t = Table("name", "table", "format", "description")
    for name, path in builtin_mappings().items():
        m = load_mapping(path)
        fmt = f"{m.format} {m.csv.encoding}" if m.format == "csv" else m.format
        t.add_row(name, m.table, fmt, m.description or "")
    Console().print(t)

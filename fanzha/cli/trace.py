"""``fanzha trace``: follow victims' money through a ledger and print it level by level."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer


def trace(
    ledger: Path = typer.Argument(..., help="Transfers (Parquet or CSV in the contract's columns)."),
    transfer: list[str] = typer.Option([], "--transfer", "-t",
                                       help="Victim transfer id, optionally VICTIM=TRANSFER_ID (repeatable)."),
    seed: list[str] = typer.Option([], "--seed", help="VICTIM,ACCOUNT,AMOUNT_CENTS,ISO_TIME (repeatable)."),
    policy: str = typer.Option("fifo", help="fifo | lifo | proportional | poison"),
    max_levels: int = typer.Option(15, help="Follow money this many levels deep."),
    horizon: str | None = typer.Option(None, help="Use movements up to this ISO time (default: all)."),
    min_amount: float = typer.Option(100.0, help="Do not follow tainted movements under this many cents."),
    accounts: Path | None = typer.Option(None, help="Accounts table (Parquet) for each account's bank."),
    out: Path | None = typer.Option(None, help="Write the result: *.json, or a folder of CSV tables."),
    show: int = typer.Option(8, help="Accounts shown per level in the tree."),
) -> None:
    """Trace victims' money (资金流向研判): where it is now, level by level, and what can be stopped."""
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.tree import Tree

    from fanzha.tracing import LedgerError, LedgerIndex, Seed, TraceError
    from fanzha.tracing import trace as run_trace

    console = Console()
    seeds: list[Seed] = []
    for t in transfer:
        victim, _, tid = t.rpartition("=")
        seeds.append(Seed(victim or tid, transfer_id=tid))
    try:
        for s in seed:
            parts = s.split(",")
            if len(parts) != 4:
                raise TraceError(f"--seed wants VICTIM,ACCOUNT,AMOUNT_CENTS,ISO_TIME, got {s!r}")
            seeds.append(Seed(parts[0], account=parts[1], amount_cents=int(parts[2]),
                              time=datetime.fromisoformat(parts[3])))
        acc = pq.read_table(accounts) if accounts else None
        lg = LedgerIndex.load(ledger, acc)
        res = run_trace(lg, seeds, policy=policy, max_levels=max_levels,
                        horizon=datetime.fromisoformat(horizon) if horizon else None, min_amount=min_amount)
    except (LedgerError, TraceError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    sm = res.summary
    root = Tree(f"[bold]{len(res.victims)} victim(s), {sm['seeded_cents'] / 100:,.2f} yuan traced "
                f"({policy})[/bold] — held {sm['held_cents'] / 100:,.2f}, cashed out "
                f"{sm['cashed_out_cents'] / 100:,.2f}, at platforms {sm['pending_at_platform_cents'] / 100:,.2f}")
    tab = res.accounts_table().to_pylist()
    for lvl in sorted({r["level_min"] for r in tab}):
        rows = sorted((r for r in tab if r["level_min"] == lvl), key=lambda r: -r["held_cents"])
        held = sum(r["held_cents"] for r in rows) / 100
        branch = root.add(f"level {lvl}: {len(rows)} account(s), holding {held:,.2f} yuan")
        for r in rows[:show]:
            tag = " [yellow](platform pool: resolve order)[/yellow]" if r["payment_pool"] else ""
            branch.add(f"{r['account_id']} [{r['institution']}] in {r['tainted_in_cents'] / 100:,.2f} "
                       f"out {r['tainted_out_cents'] / 100:,.2f} cashed {r['cashed_out_cents'] / 100:,.2f} "
                       f"[bold green]held {r['held_cents'] / 100:,.2f}[/bold green]{tag}")
        if len(rows) > show:
            branch.add(f"… {len(rows) - show} more")
    console.print(root)
    if lg.flags.counts:
        console.print(f"[yellow]ledger flags:[/yellow] {lg.flags.counts}")
    if out:
        for f in res.write(out):
            console.print(f"wrote {f}")

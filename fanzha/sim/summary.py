"""A readable summary of a simulated city (what the README's main command prints)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from fanzha.contracts.vocab import TYPOLOGY_ZH, Typology
from fanzha.sim.city import City


def _q(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def summarize(city: City, out: Path, console: Console | None = None) -> dict[str, object]:
    """Print what happened in the city, read back from the written Parquet files."""
    console = console or Console()
    con = duckdb.connect()
    for name in ("gt_victims", "gt_mule_accounts", "gt_fraud_numbers", "transfers", "gt_fraud_transfers"):
        con.read_parquet(str(Path(out) / f"{name}.parquet")).create_view(name)
    t = Table(title=f"Simulated city: {city.config.subscribers:,} subscribers, {city.config.days} day(s), "
                    f"seed {city.config.seed} — {city.seconds:.1f} s")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in city.rows.items():
        t.add_row(name, f"{n:,}")
    console.print(t)
    vt = Table(title="Fraud by typology (ground truth)")
    for c in ("typology", "victims", "loss (yuan)", "reported", "reported ≤30 min"):
        vt.add_column(c, justify="right" if c != "typology" else "left")
    rows = _q(con, """
        select typology, count(*), sum(loss_cents) / 100.0, count(reported_at),
               count(*) filter (where reported_at <= first_transfer + interval 30 minute)
        from gt_victims group by typology order by 3 desc""")
    for typ, count, loss, rep, rep30 in rows:
        label = f"{typ} {TYPOLOGY_ZH.get(Typology(str(typ)), '')}"
        vt.add_row(label, f"{count:,}", f"{float(str(loss or 0)):,.0f}", f"{rep:,}", f"{rep30:,}")
    console.print(vt)
    mules = _q(con, "select level, count(*) from gt_mule_accounts group by level order by level")
    roles = _q(con, "select role, count(*) from gt_fraud_numbers group by role order by role")
    sinks = _q(con, """select channel, count(*), sum(amount_cents) / 100.0 from transfers
                       where transfer_id in (select transfer_id from gt_fraud_transfers)
                       and channel in ('atm', 'abroad', 'crypto_otc') group by channel order by channel""")
    console.print("Mule cards by level: " + ", ".join(f"L{lv}: {n:,}" for lv, n in mules))
    console.print("Fraud numbers by role: " + ", ".join(f"{r}: {n:,}" for r, n in roles))
    console.print("Victims' money cashed out: " + ", ".join(f"{c} {n:,} rows / {a:,.0f} yuan" for c, n, a in sinks))
    console.print(f"Tables written to {out}")
    return {"rows": city.rows, "typologies": rows, "mules": mules}

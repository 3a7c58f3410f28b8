"""``fanzha simulate`` and ``fanzha demo``: the simulated city (C10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def simulate(
    subscribers: int = typer.Option(20_000, "--subscribers", "-n", help="Number of subscribers in the city."),
    days: int = typer.Option(1, "--days", "-d", help="Days of activity to simulate."),
    seed: int = typer.Option(1, "--seed", "-s", help="Same seed, same city, same output."),
    out: Path = typer.Option(Path("data/city"), "--out", "-o", help="Folder for the Parquet tables."),
) -> None:
    """Simulate a city's subscribers, calls, SMS and money with fraud gangs and ground truth."""
    from fanzha.sim import SimConfig, simulate_city, summarize

    cfg = SimConfig(subscribers=subscribers, days=days, seed=seed)
    city = simulate_city(cfg, out=out, progress=True)
    summarize(city, out)


def demo(
    subscribers: int = typer.Option(20_000, "--subscribers", "-n"),
    days: int = typer.Option(1, "--days", "-d"),
    seed: int = typer.Option(1, "--seed", "-s"),
    serve: bool = typer.Option(True, "--serve/--no-serve",
                               help="Serve the console while the city replays live (else replay flat out and exit)."),
    speed: float = typer.Option(120.0, "--speed", help="With --serve: event seconds per wall second."),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Run the center on the embedded default: simulate a city, then answer its reports with simulated partners.

    With ``--serve`` the console runs at http://127.0.0.1:PORT while the city's reports
    replay live (accelerated), and a one-time login is printed for each role.
    """
    import threading
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from sqlalchemy.orm import Session

    from fanzha.response.partners import run_center
    from fanzha.response.seed import seed_demo
    from fanzha.settings import get_settings
    from fanzha.sim import SimConfig, simulate_city, summarize
    from fanzha.store.db import create_store_engine, upgrade

    settings = get_settings()
    city_dir = settings.data_dir / "city"
    # the city's day is today (local time), so the console's "today" tiles show the replay
    tz = ZoneInfo(settings.timezone)
    midnight = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    cfg = SimConfig(subscribers=subscribers, days=days, seed=seed, start=midnight)
    summarize(simulate_city(cfg, out=city_dir, progress=True), city_dir)
    db = (settings.data_dir / "demo-center.sqlite3").resolve()
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()  # a fresh operations store per demo run
    url = f"sqlite:///{db}"
    upgrade(url)
    # The replay writes beside the API's own writers: its transactions queue for SQLite's write
    # lock (BEGIN IMMEDIATE) instead of failing when another writer committed after they had read.
    engine = create_store_engine(url, sqlite_immediate=True)
    console = Console()
    with Session(engine) as session:
        passwords = seed_demo(session).passwords
        session.commit()

    console.print("Training the firewall and risk models on two other simulated cities, then warning this one…")
    import tempfile

    from fanzha.warning.pipeline import dispatched_warnings, train_on_simulated_cities
    from fanzha.warning.store import save_dispatched

    with tempfile.TemporaryDirectory(prefix="fanzha-demo-train-") as tmp:
        models = train_on_simulated_cities(Path(tmp), (seed + 1000, seed + 2000))
    routed = dispatched_warnings(city_dir, models)
    with Session(engine) as session:
        saved = save_dispatched(session, routed, models.risk.version)
        session.commit()
    console.print(f"Warnings pushed to police stations: {routed.height:,} people ({saved}).")

    def replay() -> None:
        with Session(engine) as session:
            outcome = run_center(city_dir, session, seed=seed, speed=speed if serve else None)
        _print_outcome(console, outcome, db)

    if not serve:
        replay()
        engine.dispose()
        return
    import uvicorn
    from rich.table import Table

    from fanzha.api import create_app
    from fanzha.web import mount_console

    logins = Table(title=f"Demo logins for http://127.0.0.1:{port} (this run only)")
    logins.add_column("user")
    logins.add_column("password")
    for user in ("intake", "stopper", "analyst", "commander", "admin", "auditor", "station", "desk-icbc",
                 "desk-ccb", "desk-cmcc", "desk-alipay"):
        if user in passwords:
            logins.add_row(user, passwords[user])
    console.print(logins)
    console.print(f"The city's reports replay at {speed:g}x; the comparison prints when the replay ends. Ctrl-C stops.")
    threading.Thread(target=replay, daemon=True).start()
    app = create_app(settings.model_copy(update={"database_url": url}), migrate=True)
    mount_console(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _print_outcome(console: Any, outcome: Any, db: Path) -> None:
    from rich.table import Table

    t = Table(title="The same city with and without the center (reported cases, yuan)")
    for col in ("", "without the center", "with the center"):
        t.add_column(col, justify="right" if col else "left")
    loss = outcome.reported_loss_cents / 100
    t.add_row("victims' money reported", f"{loss:,.0f}", f"{loss:,.0f}")
    t.add_row("stopped (止付)", "0", f"{outcome.stopped_cents / 100:,.0f}")
    t.add_row("of it frozen (冻结)", "0", f"{outcome.frozen_cents / 100:,.0f}")
    t.add_row("returned to victims (返还)", "0", f"{outcome.returned_cents / 100:,.0f}")
    t.add_row("frozen, not traced to a reporting victim", "0", f"{outcome.held_for_others_cents / 100:,.0f}")
    t.add_row("lost to the reporting victims", f"{loss:,.0f}", f"{max(outcome.lost_cents, 0) / 100:,.0f}")
    console.print(t)
    mins = sorted(outcome.minutes_to_first_stop)
    median = mins[len(mins) // 2] if mins else float("nan")
    orders = ", ".join(f"{k} {v}" for k, v in sorted(outcome.orders.items()))
    console.print(f"{outcome.reports} reports; orders: {orders}; money followed to level {outcome.max_level}; "
                  f"median {median:.1f} min from report to first money stopped. Operations store: {db}")

"""``fanzha simulate`` and ``fanzha demo``: the simulated city (C10)."""

from __future__ import annotations

from pathlib import Path

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
    serve: bool = typer.Option(False, "--serve", help="Then serve the console over the result at --port."),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Run the center on the embedded default: simulate a city, then answer its reports with simulated partners."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy.orm import Session

    from fanzha.response.partners import run_center
    from fanzha.settings import get_settings
    from fanzha.store.db import create_store_engine, upgrade

    settings = get_settings()
    city_dir = settings.data_dir / "city"
    simulate(subscribers=subscribers, days=days, seed=seed, out=city_dir)
    db = (settings.data_dir / "demo-center.sqlite3").resolve()
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()  # a fresh operations store per demo run
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = create_store_engine(url)
    with Session(engine) as session:
        outcome = run_center(city_dir, session, seed=seed)
    engine.dispose()
    console = Console()
    t = Table(title="The same city with and without the center (reported cases, yuan)")
    for col in ("", "without the center", "with the center"):
        t.add_column(col, justify="right" if col else "left")
    loss = outcome.reported_loss_cents / 100
    t.add_row("victims' money reported", f"{loss:,.0f}", f"{loss:,.0f}")
    t.add_row("stopped (止付) and frozen (冻结)", "0", f"{outcome.stopped_cents / 100:,.0f}")
    t.add_row("lost", f"{loss:,.0f}", f"{max(outcome.lost_cents, 0) / 100:,.0f}")
    console.print(t)
    mins = sorted(outcome.minutes_to_first_stop)
    median = mins[len(mins) // 2] if mins else float("nan")
    orders = ", ".join(f"{k} {v}" for k, v in sorted(outcome.orders.items()))
    console.print(f"{outcome.reports} reports; orders: {orders}; money followed to level {outcome.max_level}; "
                  f"median {median:.1f} min from report to first money stopped. Operations store: {db}")
    if serve:
        import uvicorn

        from fanzha.api import create_app
        from fanzha.web import mount_console

        logins = Table(title=f"Demo logins for http://127.0.0.1:{port} (this run only)")
        logins.add_column("user")
        logins.add_column("password")
        for user in ("intake", "stopper", "analyst", "commander", "admin", "auditor", "station", "desk-icbc",
                     "desk-cmcc", "desk-alipay"):
            if user in outcome.passwords:
                logins.add_row(user, outcome.passwords[user])
        console.print(logins)
        app = create_app(settings.model_copy(update={"database_url": url}), migrate=True)
        mount_console(app)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)

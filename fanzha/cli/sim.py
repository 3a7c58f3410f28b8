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
) -> None:
    """Run the center on the embedded default: for now, simulate a small city and summarise it."""
    from fanzha.settings import get_settings

    settings = get_settings()
    simulate(subscribers=subscribers, days=days, seed=seed, out=settings.data_dir / "city")

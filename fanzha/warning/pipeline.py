"""Precision warning over a whole city: flagged elements → contacts → risk → graded warnings.

Elements become flagged as the center learns them: a number when the firewall confirms
it, a domain when a confirmed number's texts carry it, and every element of a victim's
report when the report is filed. Everyone those elements reached is a candidate, decided
at the later of the contact and the flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from fanzha.numbers.behaviour import BehaviourModel
from fanzha.numbers.firewall import confirmed_blocks, run_city
from fanzha.warning.risk import (
    RiskModel,
    contact_evidence,
    flagged_payments,
    issue_warnings,
    merge_warnings,
    transfer_triggers,
)

_DOMAIN = r"https?://([A-Za-z0-9.-]+)"


@dataclass(frozen=True)
class CityEvidence:
    rows: pl.DataFrame  # contact evidence with cumulative features
    flagged_numbers: pl.DataFrame
    flagged_domains: pl.DataFrame
    events: pl.DataFrame
    payments: pl.DataFrame  # people's payments into flagged accounts (person, to_account, time)

    @property
    def triggers(self) -> pl.DataFrame:
        """People caught paying a flagged account: rule-based 特危 warnings."""
        return transfer_triggers(self.payments)


def flagged_elements(city: Path, alerts: pl.DataFrame, auto_threshold: float,
                     events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(numbers, domains) with the event time at which the center knew them."""
    confirmed = confirmed_blocks(alerts, auto_threshold).rename({"time": "flagged_at"})
    spoofed = alerts.filter(pl.col("detector") == "spoof")
    parts = [confirmed]
    reports_path = city / "reports.parquet"
    reports = pl.read_parquet(reports_path) if reports_path.exists() else None
    if reports is not None and reports.height:
        parts.append(reports.select(pl.col("fraud_numbers").alias("number"),
                                    pl.col("reported_at").dt.epoch("ms").alias("flagged_at"))
                     .explode("number", empty_as_null=True))
    numbers = pl.concat(parts, how="vertical_relaxed").drop_nulls().group_by("number").agg(pl.col("flagged_at").min())
    # protected lines are spoofed, not fraud: their spoofed calls are evidence per call (below), never the number
    protected = spoofed["number"].unique().implode()
    numbers = numbers.filter(~pl.col("number").is_in(protected))
    sms = events.filter(pl.col("kind") == 1).select("src", "time", "text").join(
        numbers.rename({"number": "src"}), on="src")
    doms = [sms.select(pl.col("text").str.extract(_DOMAIN, 1).str.to_lowercase().alias("domain"),
                       pl.max_horizontal("time", "flagged_at").alias("flagged_at"))]
    if reports is not None and reports.height:
        doms.append(reports.select(pl.col("domains").alias("domain"),
                                   pl.col("reported_at").dt.epoch("ms").alias("flagged_at"))
                    .explode("domain", empty_as_null=True))
    domains = pl.concat(doms, how="vertical_relaxed").drop_nulls().group_by("domain").agg(pl.col("flagged_at").min())
    return numbers, domains


def city_evidence(city: Path, behaviour: BehaviourModel) -> CityEvidence:
    """Run the firewall on a city and collect every contact with what it flagged."""
    alerts, _, events = run_city(city, behaviour)
    numbers, domains = flagged_elements(city, alerts, behaviour.auto_threshold, events)
    visits = pl.read_parquet(city / "url_visits.parquet").select(
        "number", pl.col("time").dt.epoch("ms"), pl.col("domain").str.to_lowercase())
    register = pl.read_parquet(city / "subscribers.parquet").select("number", "age_band")
    # spoofed calls: each one is a contact with a flagged element at the moment it happens
    spoof = alerts.filter(pl.col("detector") == "spoof").select(
        pl.col("number").alias("src"), pl.col("evidence").str.json_path_match("$.callee").alias("dst"),
        pl.col("time"))
    ev = events.select("src", "dst", "time", "kind", "duration_s")
    spoof_ev = ev.join(spoof, on=["src", "dst", "time"], how="semi").with_columns(
        (pl.lit("SPOOF:") + pl.col("src")).alias("src"))
    spoof_flags = spoof_ev.select(pl.col("src").alias("number"), pl.col("time").alias("flagged_at"))
    rows = contact_evidence(
        pl.concat([ev.filter(pl.col("src").is_in(numbers["number"].implode())
                             | pl.col("dst").is_in(numbers["number"].implode())), spoof_ev]),
        visits, pl.concat([numbers, spoof_flags]).group_by("number").agg(pl.col("flagged_at").min()), domains,
        register,
    )
    return CityEvidence(rows, numbers, domains, events, city_flagged_payments(city, numbers))


def flagged_accounts(city: Path) -> pl.DataFrame:
    """Bank accounts named as fraud accounts in reports, from the report's time (pools excluded)."""
    path = city / "reports.parquet"
    if not path.exists():
        return pl.DataFrame(schema={"account": pl.String, "flagged_at": pl.Int64})
    banks = pl.read_parquet(city / "accounts.parquet").filter(pl.col("kind") == "bank").select(
        pl.col("account_id").alias("account"))
    return (pl.read_parquet(path).select(pl.col("fraud_accounts").alias("account"),
                                         pl.col("reported_at").dt.epoch("ms").alias("flagged_at"))
            .explode("account", empty_as_null=True).drop_nulls().join(banks, on="account", how="semi")
            .group_by("account").agg(pl.col("flagged_at").min()))


def city_flagged_payments(city: Path, fraud_numbers: pl.DataFrame) -> pl.DataFrame:
    transfers = pl.read_parquet(city / "transfers.parquet", columns=["from_account", "to_account", "time"]) \
        .with_columns(pl.col("time").dt.epoch("ms"))
    accounts = pl.read_parquet(city / "accounts.parquet", columns=["account_id", "holder_number"])
    return flagged_payments(transfers, accounts, flagged_accounts(city), fraud_numbers)


def city_warnings(evidence: CityEvidence, model: RiskModel) -> pl.DataFrame:
    """Model-graded warnings from contacts, merged with the rule-based transfer triggers."""
    return merge_warnings(issue_warnings(evidence.rows, model), evidence.triggers)


@dataclass(frozen=True)
class WarningModels:
    behaviour: BehaviourModel
    risk: RiskModel


def train_models(train: Path, valid: Path,
                 feedback: Sequence[tuple[Path, pl.DataFrame]] = ()) -> WarningModels:
    """Behaviour model fitted on ``train`` (threshold on ``valid``), risk model on both cities' contacts.

    ``feedback``: (city, labels) pairs — the center's own call records and the stations'
    feedback on the warnings they worked (:func:`fanzha.warning.store.feedback_labels`);
    their contacts up to each feedback join the training rows, labelled by it.
    """
    from fanzha.numbers.firewall import train_behaviour
    from fanzha.warning.risk import fit_risk_model, label_by_feedback, label_rows

    behaviour = train_behaviour(train, valid)
    labelled = [label_rows(city_evidence(c, behaviour).rows, pl.read_parquet(c / "gt_victims.parquet"))
                for c in (train, valid)]
    labelled += [label_by_feedback(city_evidence(c, behaviour).rows, labels) for c, labels in feedback]
    return WarningModels(behaviour, fit_risk_model(pl.concat(labelled, how="diagonal_relaxed")))


def train_on_simulated_cities(root: Path, seeds: tuple[int, int], subscribers: int = 10_000,
                              days: int = 1) -> WarningModels:
    """Both models from two simulated cities (never the city they will be used on)."""
    from fanzha.sim import SimConfig, simulate_city

    cities = [root / f"train-{s}" for s in seeds]
    for s, c in zip(seeds, cities, strict=True):
        simulate_city(SimConfig(subscribers=subscribers, days=days, seed=s), c)
    return train_models(cities[0], cities[1])


def dispatched_warnings(city: Path, models: WarningModels) -> pl.DataFrame:
    """Everything the warning pipeline would push to stations for a city, routed by jurisdiction."""
    from fanzha.warning.dispatch import dispatch

    ev = city_evidence(city, models.behaviour)
    register = pl.read_parquet(city / "subscribers.parquet").select("number", "district", "police_station")
    return dispatch(city_warnings(ev, models.risk), register)

"""The demo platform (演示数据): every partner of a city's center and one user per role.

Organisations: the ten simulated banks (:data:`fanzha.sim.geography.BANKS`), the three
carriers, the two payment platforms, CNCERT (domain takedowns), the center itself and
two police stations. Users: one per role, plus one desk user per bank, carrier and
platform, so each desk can sign in to its own queue. Passwords are random and returned
once (the store keeps only their hashes); running it again adds only what is missing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.service import create_user
from fanzha.sim.geography import BANKS, PLATFORMS
from fanzha.sim.population import STATIONS
from fanzha.store.models import Organisation, OrgKind, Role, User

CARRIERS: tuple[tuple[str, str], ...] = (("CMCC", "中国移动"), ("CUCC", "中国联通"), ("CTCC", "中国电信"))
# Two district-level units, then every police station of the simulated city by its register name, so
# warnings routed by jurisdiction (派出所) land on a station's board instead of the address queue.
POLICE_UNITS: tuple[tuple[str, str], ...] = (
    ("XM-SIMING-PS", "思明派出所"), ("XM-HULI-PS", "湖里派出所"),
    *((f"XM-PS-{i:02d}", name) for i, (_district, name) in enumerate(STATIONS, start=1)),
)


def demo_organisations() -> list[tuple[str, str, OrgKind]]:
    orgs = [("CENTER", "厦门市反电信网络诈骗中心", OrgKind.CENTER), ("CNCERT", "国家互联网应急中心", OrgKind.AUTHORITY)]
    orgs += [(code, name, OrgKind.BANK) for code, name in BANKS]
    orgs += [(code, name, OrgKind.CARRIER) for code, name in CARRIERS]
    orgs += [(code, name, OrgKind.PAYMENT_PLATFORM) for code, name in PLATFORMS]
    orgs += [(code, name, OrgKind.POLICE_UNIT) for code, name in POLICE_UNITS]
    return orgs


DESK_ROLE: dict[OrgKind, Role] = {
    OrgKind.BANK: Role.BANK_DESK,
    OrgKind.CARRIER: Role.CARRIER_DESK,
    OrgKind.PAYMENT_PLATFORM: Role.PAYMENT_DESK,
    OrgKind.AUTHORITY: Role.CARRIER_DESK,  # CNCERT's takedown desk works like a network operator's
}


def demo_users() -> list[tuple[str, Role, str]]:
    """(username, role, organisation code): one per role, and a desk user per partner."""
    users = [
        ("intake", Role.INTAKE_OFFICER, "CENTER"),
        ("stopper", Role.STOP_PAYMENT_SPECIALIST, "CENTER"),
        ("analyst", Role.FUND_ANALYST, "CENTER"),
        ("commander", Role.COMMANDER, "CENTER"),
        ("admin", Role.ADMIN, "CENTER"),
        ("auditor", Role.AUDITOR, "CENTER"),
        ("station", Role.STATION_OFFICER, POLICE_UNITS[0][0]),
    ]
    for code, _name, kind in demo_organisations():
        if kind in DESK_ROLE:
            users.append((f"desk-{code.lower()}", DESK_ROLE[kind], code))
    return users


@dataclass(frozen=True)
class SeedResult:
    organisations_added: int
    passwords: dict[str, str]  # username → password, for users added now only


def seed_demo(session: Session, password: str | None = None) -> SeedResult:
    """Add the demo organisations and users that are missing; ``password`` fixes all passwords (tests, bench)."""
    have = set(session.scalars(select(Organisation.code)))
    added = 0
    for code, name, kind in demo_organisations():
        if code not in have:
            session.add(Organisation(code=code, name=name, kind=kind))
            added += 1
    session.flush()
    existing = set(session.scalars(select(User.username)))
    passwords: dict[str, str] = {}
    for username, role, org in demo_users():
        if username in existing:
            continue
        pw = password or secrets.token_urlsafe(12)
        create_user(session, username, pw, role, org)
        passwords[username] = pw
    return SeedResult(organisations_added=added, passwords=passwords)

"""The static world: residents, businesses, heavy legitimate callers, service senders, protected lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fanzha.contracts.vocab import RegistrationQuality
from fanzha.sim.config import SimConfig
from fanzha.sim.events import DAY
from fanzha.sim.geography import BANKS, PLATFORMS, platform_pool
from fanzha.sim.population import (
    STATIONS,
    AccountBook,
    ContactGraph,
    NumberBook,
    Residents,
    draw_mobile,
    make_contacts,
    make_residents,
)

LOCAL, OUT_OF_TOWN, VIRTUAL = 0, 1, 2


@dataclass
class World:
    cfg: SimConfig
    numbers: NumberBook
    accounts: AccountBook
    residents: Residents
    contacts: ContactGraph
    used: set[int]
    out_of_town: np.ndarray  # number positions
    couriers: np.ndarray
    sales: np.ndarray
    call_centers: np.ndarray
    robocallers: np.ndarray  # legitimate notification lines that call in bursts
    bank_senders: np.ndarray  # number position per bank (same order as BANKS)
    service_senders: np.ndarray
    protected: np.ndarray  # government lines (whitelist)
    protected_owner: list[str]
    business_accounts: np.ndarray  # account position per business
    merchant_accounts: np.ndarray
    pools: dict[str, int]  # platform code -> pool account position
    resident_bank: np.ndarray  # bank index of each resident's main account


def _landlines(rng: np.random.Generator, n: int, used: set[int], prefix: int = 592) -> np.ndarray:
    out = np.unique(prefix * 10_000_000 + rng.integers(2_000_000, 9_999_999, size=n * 2))
    out = np.array([x for x in out.tolist() if x not in used][:n], dtype=np.int64)
    used.update(out.tolist())
    return out


def build_world(rng: np.random.Generator, cfg: SimConfig) -> World:
    n = cfg.subscribers
    start = cfg.start_ms
    nb, ab = NumberBook(), AccountBook()
    used: set[int] = set()
    n_business = max(20, n // 500)
    res = make_residents(rng, cfg, n_business)

    # Residents' own numbers (positions 0..n-1): mostly local, some out-of-town and virtual cards.
    cls = rng.choice(3, size=n, p=[0.88, 0.08, 0.04]).astype(np.int8)
    nat = np.empty(n, dtype=np.int64)
    car = np.empty(n, dtype=object)
    for c, name in enumerate(["local", "out_of_town", "virtual"]):
        m = cls == c
        nat[m], car[m] = draw_mobile(rng, name, int(m.sum()), used)
    activated = start - rng.integers(30, 3650, size=n) * DAY
    fresh = rng.random(n) < 0.005  # new subscribers: a new card is not by itself a fraud signal
    activated[fresh] = start - rng.integers(0, 7 * DAY, size=int(fresh.sum()))
    nb.add(nat, car, cls, rng.random(n) < 0.97, np.arange(n), rng.integers(10**14, 10**15, size=n), activated)

    # Family and friends elsewhere in China.
    n_oot = max(50, n // 12)
    nat, car = draw_mobile(rng, "out_of_town", n_oot, used)
    oot = nb.add(nat, car, OUT_OF_TOWN, True, -1, rng.integers(10**14, 10**15, size=n_oot), start - 400 * DAY)

    def local_heavy(k: int, cls_name: str = "local") -> np.ndarray:
        nat, car = draw_mobile(rng, cls_name, k, used)
        return nb.add(nat, car, LOCAL, True, -1, rng.integers(10**14, 10**15, size=k), start - 300 * DAY)

    couriers = local_heavy(max(5, n // 1000))
    sales = local_heavy(max(2, n // 4000))
    cc_nat = _landlines(rng, max(2, n // 20_000), used)
    call_centers = nb.add(
        cc_nat, np.full(len(cc_nat), "China Telecom", dtype=object), LOCAL, True, -1,
        rng.integers(10**14, 10**15, size=len(cc_nat)), start - 900 * DAY,
    )
    rc_nat = _landlines(rng, max(2, n // 25_000), used)
    robocallers = nb.add(
        rc_nat, np.full(len(rc_nat), "China Unicom", dtype=object), LOCAL, True, -1,
        rng.integers(10**14, 10**15, size=len(rc_nat)), start - 700 * DAY,
    )
    # Bulk SMS senders: banks' 955xx-style service lines and 106 platform numbers.
    bank_nat = np.array([95_500 + 10 * i for i in range(len(BANKS))], dtype=np.int64)
    bank_senders = nb.add(
        bank_nat, np.full(len(bank_nat), "service", dtype=object), LOCAL, True, -1,
        np.zeros(len(bank_nat), np.int64), start - 3000 * DAY,
    )
    svc_nat = np.array([10_690_000_000 + 1_234 * i for i in range(1, 7)], dtype=np.int64)
    service_senders = nb.add(
        svc_nat, np.full(len(svc_nat), "service", dtype=object), LOCAL, True, -1,
        np.zeros(len(svc_nat), np.int64), start - 3000 * DAY,
    )
    # Protected government lines: every police station's duty line, the city's hotlines.
    owners = [f"{s}值班电话" for _, s in STATIONS]
    owners += ["厦门市公安局", "厦门市反诈中心", "厦门市医保中心", "厦门市人民检察院"]
    gov = _landlines(rng, len(owners), used)
    protected = nb.add(
        gov, np.full(len(gov), "China Telecom", dtype=object), LOCAL, True, -1,
        np.zeros(len(gov), np.int64), start - 5000 * DAY,
    )

    # Accounts: one main card per resident (positions 0..n-1), businesses, merchants, platform pools.
    res_bank = rng.choice(len(BANKS), size=n)
    ab.add_bank(
        rng, n, res.id_hash, np.arange(n), RegistrationQuality.VERIFIED.value,
        start - rng.integers(30, 5000, size=n) * DAY, bank=res_bank,
    )
    business_accounts = ab.add_bank(
        rng, n_business, rng.integers(1 << 62, size=n_business, dtype=np.int64), np.full(n_business, -1),
        RegistrationQuality.VERIFIED.value, start - 2000 * DAY,
    )
    n_merch = max(30, n // 200)
    merchant_accounts = ab.add_bank(
        rng, n_merch, rng.integers(1 << 62, size=n_merch, dtype=np.int64), np.full(n_merch, -1),
        RegistrationQuality.VERIFIED.value, start - 1500 * DAY,
    )
    pools = {code: int(ab.add_special([platform_pool(code)], "third_party", [code], start - 5000 * DAY)[0])
             for code, _ in PLATFORMS}
    contacts = make_contacts(rng, res, oot)
    return World(
        cfg=cfg, numbers=nb, accounts=ab, residents=res, contacts=contacts, used=used, out_of_town=oot,
        couriers=couriers, sales=sales, call_centers=call_centers, robocallers=robocallers, bank_senders=bank_senders,
        service_senders=service_senders, protected=protected, protected_owner=owners,
        business_accounts=business_accounts, merchant_accounts=merchant_accounts, pools=pools,
        resident_bank=res_bank,
    )

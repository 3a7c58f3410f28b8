"""Normal life in the city: social calls and SMS, service traffic, and everyday money.

Legitimate heavy callers (couriers, sales, call centers) and bulk SMS senders are
deliberately present so that "many calls to many strangers" alone is not fraud.
"""

from __future__ import annotations

import numpy as np

from fanzha.contracts.vocab import Channel
from fanzha.sim.events import CH, HOUR, Buffer, session_times, times_of_day
from fanzha.sim.geography import PLATFORMS
from fanzha.sim.world import World


class TextPool:
    """All SMS texts of a run; events hold an index into it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, texts: list[str]) -> np.ndarray:
        start = len(self.texts)
        self.texts.extend(texts)
        return np.arange(start, len(self.texts), dtype=np.int32)


def _durations(rng: np.random.Generator, n: int, p_unanswered: float, median_s: float, sigma: float) -> np.ndarray:
    d = np.clip(rng.lognormal(np.log(median_s), sigma, size=n), 3, 7200).astype(np.int32)
    d[rng.random(n) < p_unanswered] = 0
    return d


def _sample_edges(rng: np.random.Generator, world: World, k: int) -> tuple[np.ndarray, np.ndarray]:
    g = world.contacts
    cum = np.cumsum(g.weight)
    e = np.searchsorted(cum, rng.random(k) * cum[-1], side="right")
    flip = rng.random(k) < 0.5
    a = np.where(flip, g.dst[e], g.src[e])
    b = np.where(flip, g.src[e], g.dst[e])
    return a, b


def day_calls(rng: np.random.Generator, world: World, day_ms: int, calls: Buffer) -> None:
    res, n = world.residents, world.residents.n
    imei = world.numbers.col("imei")
    budget = int(world.cfg.calls_per_person_day * n)

    def add(caller: np.ndarray, callee: np.ndarray, t: np.ndarray, dur: np.ndarray, ingress: np.ndarray) -> None:
        cres, eres = caller < n, callee < n
        home = res.cell
        cell = np.where(cres, home[np.minimum(caller, n - 1)], np.where(eres, home[np.minimum(callee, n - 1)], -1))
        calls.add(caller=caller, callee=callee, start=t, duration=dur, ingress=ingress, cell=cell, imei=imei[caller])

    def heavy(sources: np.ndarray, lo: int, hi: int, p_un: float, med: float, sig: float) -> int:
        per = rng.integers(lo, hi, size=len(sources))
        caller = np.repeat(sources, per)
        k = len(caller)
        callee = rng.integers(n, size=k).astype(np.int32)
        t = times_of_day(rng, k, day_ms, "work")
        add(caller, callee, t, _durations(rng, k, p_un, med, sig), np.zeros(k, np.int8))
        return k

    used = heavy(world.couriers, 60, 130, 0.25, 25, 0.5)
    used += heavy(world.sales, 150, 400, 0.55, 40, 0.8)
    used += heavy(world.call_centers, 300, 900, 0.40, 120, 0.7)
    used += heavy(world.protected, 3, 20, 0.10, 90, 0.6)
    # Notification robocalls (hospitals, schools, property managers) come in bursts, like auto-dialers.
    per = rng.integers(200, 600, size=len(world.robocallers))
    caller = np.repeat(world.robocallers, per)
    k = len(caller)
    add(caller, rng.integers(n, size=k).astype(np.int32), session_times(rng, per, day_ms, (1, 2), (30, 60)),
        _durations(rng, k, 0.30, 30, 0.4), np.zeros(k, np.int8))
    used += k
    k = max(0, budget - used)
    a, b = _sample_edges(rng, world, k)
    oot_lo, oot_hi = int(world.out_of_town[0]), int(world.out_of_town[-1])
    ingress = ((a >= oot_lo) & (a <= oot_hi)).astype(np.int8)  # 1 = long distance
    add(a, b, times_of_day(rng, k, day_ms), _durations(rng, k, 0.12, 75, 1.0), ingress)


def day_sms(rng: np.random.Generator, world: World, day_ms: int, sms: Buffer, pools: dict[str, np.ndarray]) -> None:
    n = world.residents.n
    total = int(world.cfg.sms_per_person_day * n)
    k = int(total * 0.45)
    a, b = _sample_edges(rng, world, k)
    sms.add(sender=a, recipient=b, time=times_of_day(rng, k, day_ms), text=rng.choice(pools["p2p"], size=k))
    # Bank notices go to the bank's own customers; service notices to anyone.
    k = int(total * 0.30)
    who = rng.integers(n, size=k)
    sender = world.bank_senders[world.resident_bank[who]]
    sms.add(sender=sender, recipient=who, time=times_of_day(rng, k, day_ms), text=rng.choice(pools["bank"], size=k))
    k = total - int(total * 0.45) - int(total * 0.30)
    sms.add(
        sender=rng.choice(np.concatenate([world.service_senders, world.couriers]), size=k),
        recipient=rng.integers(n, size=k),
        time=times_of_day(rng, k, day_ms),
        text=rng.choice(pools["service"], size=k),
    )


class OrderNumbers:
    """Third-party payment order numbers (订单号): unique per run, deterministic."""

    def __init__(self, base: int) -> None:
        self.next = base

    def take(self, k: int) -> np.ndarray:
        out = np.arange(self.next, self.next + k, dtype=np.int64)
        self.next += k
        return out


def add_payments(
    rng: np.random.Generator,
    world: World,
    tr: Buffer,
    orders: OrderNumbers,
    src: np.ndarray,
    dst: np.ndarray,
    t: np.ndarray,
    amount: np.ndarray,
    third_party_share: float,
    case: np.ndarray | int = -1,
    level: np.ndarray | int = 0,
) -> None:
    """Bank transfers, a share of them through a payment platform: two rows sharing an order number."""
    k = len(src)
    tp = rng.random(k) < third_party_share
    bank = ~tp
    case_a = np.broadcast_to(np.asarray(case, dtype=np.int32), (k,))
    level_a = np.broadcast_to(np.asarray(level, dtype=np.int16), (k,))
    tr.add(src=src[bank], dst=dst[bank], time=t[bank], amount=amount[bank], channel=CH[Channel.BANK],
           order_no=0, case=case_a[bank], level=level_a[bank])
    m = int(tp.sum())
    if m:
        pool_ids = np.array(list(world.pools.values()), dtype=np.int32)
        pool = pool_ids[rng.integers(len(PLATFORMS), size=m)]
        order = orders.take(m)
        tr.add(src=src[tp], dst=pool, time=t[tp], amount=amount[tp], channel=CH[Channel.THIRD_PARTY],
               order_no=order, case=case_a[tp], level=level_a[tp])
        tr.add(src=pool, dst=dst[tp], time=t[tp] + rng.integers(1_000, 20_000, size=m), amount=amount[tp],
               channel=CH[Channel.THIRD_PARTY], order_no=order, case=case_a[tp], level=level_a[tp])


def day_transfers(rng: np.random.Generator, world: World, day_ms: int, day_of_month: int, tr: Buffer,
                  orders: OrderNumbers) -> None:
    res, n = world.residents, world.residents.n
    rate = world.cfg.transfers_per_person_day
    # Shopping: residents pay merchants, half through a payment platform.
    k = int(0.55 * rate * n)
    src = rng.integers(n, size=k).astype(np.int32)
    dst = world.merchant_accounts[rng.integers(len(world.merchant_accounts), size=k)]
    amt = np.maximum(100, rng.lognormal(np.log(8_000), 1.0, size=k)).astype(np.int64)
    add_payments(rng, world, tr, orders, src, dst, times_of_day(rng, k, day_ms), amt, 0.5)
    # Person to person along social ties (residents only).
    k = int(0.25 * rate * n)
    a, b = _sample_edges(rng, world, k)
    m = (a < n) & (b < n)
    a, b = a[m], b[m]
    amt = np.maximum(100, rng.lognormal(np.log(30_000), 1.2, size=len(a))).astype(np.int64)
    add_payments(rng, world, tr, orders, a, b, times_of_day(rng, len(a), day_ms), amt, 0.4)
    # Salaries on each employer's payday, rent on each tenant's.
    emp = np.flatnonzero((res.employer >= 0) & (res.employer % 28 + 1 == day_of_month))
    if len(emp):
        t = day_ms + 9 * HOUR + rng.integers(3 * HOUR, size=len(emp))
        amt = rng.lognormal(np.log(800_000), 0.4, size=len(emp)).astype(np.int64)
        tr.add(src=world.business_accounts[res.employer[emp]], dst=emp, time=t, amount=amt,
               channel=CH[Channel.BANK], order_no=0, case=-1, level=0)
    tenants = np.flatnonzero((np.arange(n) % 3 == 0) & (np.arange(n) % 28 + 1 == day_of_month))
    if len(tenants):
        landlord = (tenants * 7 + 11) % n
        t = times_of_day(rng, len(tenants), day_ms)
        amt = (rng.integers(15, 60, size=len(tenants)) * 10_000).astype(np.int64)
        add_payments(rng, world, tr, orders, tenants.astype(np.int32), landlord.astype(np.int32), t, amt, 0.3)
    # Cash withdrawals and rare transfers abroad happen in normal life too.
    k = int(0.02 * n)
    t = times_of_day(rng, k, day_ms)
    tr.add(src=rng.integers(n, size=k), dst=-1, time=t, amount=rng.integers(5, 30, size=k) * 10_000,
           channel=CH[Channel.ATM], order_no=0, case=-1, level=0)
    k = max(1, int(0.0005 * n))
    tr.add(src=rng.integers(n, size=k), dst=-1, time=times_of_day(rng, k, day_ms),
           amount=rng.lognormal(np.log(2_000_000), 0.8, size=k).astype(np.int64),
           channel=CH[Channel.ABROAD], order_no=0, case=-1, level=0)

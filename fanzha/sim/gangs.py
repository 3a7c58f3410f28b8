"""The fraud ecosystem: gangs with an information group, a dispatch group and a cash-out group.

* Information group (信息组): callers on virtual, out-of-town and spoofed government
  numbers (spoofs arrive through the international gateway), SMS lures with the gang's
  domain, an SMS blitz (医保停用) reaching tens of thousands; numbers rotate daily.
* Dispatch group (资金组): level-1 mule cards receive victims' money and split it within
  minutes down 2 to 7+ levels, some hops through a payment platform's order number.
* Cash-out group (取现组): ATM withdrawals, transfers abroad, crypto OTC at the last level.

Victims move contacted → engaged → transfer(s) → report after a delay, or never. The
per-victim loops here touch hundreds to thousands of victims, not millions of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fanzha.contracts.vocab import Channel, RegistrationQuality, Typology
from fanzha.sim.events import CH, DAY, HOUR, MINUTE, Buffer, session_times, split_cents
from fanzha.sim.life import OrderNumbers, TextPool, add_payments
from fanzha.sim.population import draw_mobile
from fanzha.sim.texts import render_fraud
from fanzha.sim.world import LOCAL, OUT_OF_TOWN, VIRTUAL, World

# Typology profiles: age-band affinity (0-17, 18-29, 30-44, 45-59, 60+), transfers, loss.
AGE_AFFINITY: dict[Typology, list[float]] = {
    Typology.IMPERSONATE_POLICE: [0.1, 0.6, 1.0, 2.5, 4.0],
    Typology.REBATE_TASK: [0.5, 4.0, 2.0, 0.6, 0.2],
    Typology.PIG_BUTCHERING: [0.0, 1.0, 3.0, 2.5, 0.8],
    Typology.IMPERSONATE_BOSS: [0.0, 1.0, 1.0, 1.0, 0.2],
    Typology.FAKE_LOAN: [0.1, 3.0, 2.5, 1.0, 0.3],
    Typology.FAKE_CUSTOMER_SERVICE: [0.3, 3.0, 2.5, 1.0, 0.5],
    Typology.MEDICAL_INSURANCE_SMS: [0.0, 0.3, 1.0, 2.5, 4.0],
}
LOSS_MEDIAN_YUAN = {
    Typology.IMPERSONATE_POLICE: 150_000, Typology.REBATE_TASK: 30_000, Typology.PIG_BUTCHERING: 200_000,
    Typology.IMPERSONATE_BOSS: 300_000, Typology.FAKE_LOAN: 8_000, Typology.FAKE_CUSTOMER_SERVICE: 20_000,
    Typology.MEDICAL_INSURANCE_SMS: 10_000,
}
N_TRANSFERS = {
    Typology.IMPERSONATE_POLICE: (1, 2), Typology.REBATE_TASK: (3, 6), Typology.PIG_BUTCHERING: (2, 8),
    Typology.IMPERSONATE_BOSS: (1, 1), Typology.FAKE_LOAN: (2, 4), Typology.FAKE_CUSTOMER_SERVICE: (1, 3),
    Typology.MEDICAL_INSURANCE_SMS: (1, 2),
}
REPORT_PROB = {
    Typology.IMPERSONATE_POLICE: 0.85, Typology.REBATE_TASK: 0.7, Typology.PIG_BUTCHERING: 0.6,
    Typology.IMPERSONATE_BOSS: 0.9, Typology.FAKE_LOAN: 0.6, Typology.FAKE_CUSTOMER_SERVICE: 0.75,
    Typology.MEDICAL_INSURANCE_SMS: 0.7,
}
SMS_TYPOLOGIES = {Typology.REBATE_TASK, Typology.FAKE_LOAN, Typology.MEDICAL_INSURANCE_SMS,
                  Typology.IMPERSONATE_BOSS, Typology.PIG_BUTCHERING}
TLDS = ["top", "xyz", "cc", "vip", "icu", "club", "shop", "net"]


@dataclass
class Gang:
    gang_id: int
    typology: Typology
    depth: int
    domain: str
    numbers: list[int] = field(default_factory=list)  # current caller/blaster number positions
    mules: dict[int, list[int]] = field(default_factory=dict)  # level -> account positions
    devices: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    reach: tuple[np.ndarray, np.ndarray] = field(  # today's mass contacts: (shown number, time)
        default_factory=lambda: (np.empty(0, np.int32), np.empty(0, np.int64)))


@dataclass
class GroundTruth:
    fraud_numbers: list[tuple[int, int, str, str, int]] = field(default_factory=list)  # pos, gang, role, typ, ms
    mules: list[tuple[int, int, int]] = field(default_factory=list)  # account pos, gang, level
    victims: list[dict[str, object]] = field(default_factory=list)
    campaigns: list[dict[str, object]] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)


class FraudEcosystem:
    """All gangs of the city and their state across days."""

    def __init__(self, rng: np.random.Generator, world: World, texts: TextPool) -> None:
        self.rng, self.world, self.texts = rng, world, texts
        cfg = world.cfg
        typs = list(cfg.typology_weights)
        w = np.array([cfg.typology_weights[t] for t in typs])
        order = [typs[i] for i in np.argsort(-w)]
        self.gt = GroundTruth()
        self.gangs: list[Gang] = []
        lo, hi = cfg.mule_depth_range
        for g in range(cfg.gangs):
            typ = order[g % len(order)] if g < len(order) else typs[int(rng.choice(len(typs), p=w / w.sum()))]
            deep = rng.random() < cfg.deep_gang_share or g == 0
            depth = int(max(hi, 7) if deep else rng.integers(lo, max(lo, hi - 1) + 1))
            letters = "".join(rng.choice(list("abcdefghijkmnpqrstuvwxyz"), size=int(rng.integers(5, 9))))
            domain = f"{letters}{int(rng.integers(10, 99))}.{TLDS[int(rng.integers(len(TLDS)))]}"
            gang = Gang(g, typ, depth, domain, devices=rng.integers(10**14, 10**15, size=int(rng.integers(3, 7))))
            self.gangs.append(gang)
            self.gt.domains.append(domain)
        self.by_typ: dict[Typology, list[Gang]] = {}
        for gang in self.gangs:
            self.by_typ.setdefault(gang.typology, []).append(gang)
        n = world.residents.n
        self.weights: dict[Typology, np.ndarray] = {}
        for t, aff in AGE_AFFINITY.items():
            p = np.asarray(aff)[world.residents.age]
            if t is Typology.IMPERSONATE_BOSS:
                p = p * world.residents.finance_staff
            self.weights[t] = np.cumsum(p) if p.sum() > 0 else np.cumsum(np.ones(n))
        self.victimised: set[int] = set()
        self.case_seq = 0
        self.domain_ids = {d: i for i, d in enumerate(self.gt.domains)}

    # ---- information group -------------------------------------------------------------
    def _new_numbers(self, gang: Gang, k: int, day_ms: int, role: str) -> list[int]:
        rng, nb = self.rng, self.world.numbers
        cls = rng.choice([LOCAL, OUT_OF_TOWN, VIRTUAL], size=k, p=[0.12, 0.43, 0.45])
        nat = np.empty(k, np.int64)
        car = np.empty(k, dtype=object)
        for c, name in ((LOCAL, "local"), (OUT_OF_TOWN, "out_of_town"), (VIRTUAL, "virtual")):
            m = cls == c
            if m.any():
                nat[m], car[m] = draw_mobile(rng, name, int(m.sum()), self.world.used)
        act = day_ms - rng.integers(0, 3 * DAY, size=k)
        bought = rng.random(k) < 0.3  # cards bought from sellers (卡贩子) are older
        act[bought] = day_ms - rng.integers(30, 400, size=int(bought.sum())) * DAY
        pos = nb.add(nat, car, cls.astype(np.int8), rng.random(k) < 0.3, -1,
                     gang.devices[rng.integers(len(gang.devices), size=k)], act)
        for p, a in zip(pos.tolist(), act.tolist(), strict=True):
            self.gt.fraud_numbers.append((p, gang.gang_id, role, gang.typology.value, a))
        return pos.tolist()

    def _targets(self, typ: Typology, k: int) -> np.ndarray:
        cum = self.weights[typ]
        return np.searchsorted(cum, self.rng.random(k) * cum[-1], side="right").astype(np.int32)

    def _fraud_calls(self, calls: Buffer, caller: np.ndarray, callee: np.ndarray, t: np.ndarray,
                     dur: np.ndarray, spoof: bool = False) -> None:
        rng, nb, res = self.rng, self.world.numbers, self.world.residents
        cls = nb.col("cls")[caller]
        ingress = np.where(cls == LOCAL, 0, np.where(rng.random(len(caller)) < 0.3, 2, 1)).astype(np.int8)
        if spoof:
            ingress[:] = 2
        imei = np.where(spoof, 0, nb.col("imei")[caller]).astype(np.int64)
        calls.add(caller=caller, callee=callee, start=t, duration=dur, ingress=ingress,
                  cell=res.cell[callee], imei=imei)

    def day(self, day: int, day_ms: int, calls: Buffer, sms: Buffer, visits: Buffer, tr: Buffer,
            orders: OrderNumbers) -> None:
        rng, cfg, n = self.rng, self.world.cfg, self.world.residents.n
        total = max(cfg.min_victims_per_day, cfg.victims_per_100k_day * n / 100_000)
        typs = list(cfg.typology_weights)
        w = np.array([cfg.typology_weights[t] for t in typs])
        for gang in self.gangs:
            share = w[typs.index(gang.typology)] / w.sum() / len(self.by_typ[gang.typology])
            n_vict = int(rng.poisson(total * share))
            # Rotate numbers: yesterday's are abandoned (or blocked), fresh cards join.
            k_num = int(rng.integers(4, 10))
            role = "sms_blaster" if gang.typology in SMS_TYPOLOGIES else "caller"
            gang.numbers = self._new_numbers(gang, k_num, day_ms, role)
            self._background_contacts(gang, n_vict, day_ms, calls, sms, visits)
            if gang.typology is Typology.MEDICAL_INSURANCE_SMS and day % 3 == 0:
                self._blitz(gang, day_ms, sms, visits)
            for _ in range(n_vict):
                self._victim(gang, day_ms, calls, sms, visits, tr, orders)

    def _background_contacts(self, gang: Gang, n_vict: int, day_ms: int, calls: Buffer, sms: Buffer,
                             visits: Buffer) -> None:
        """Contacts that do not end in a transfer: the bulk of a fraud number's traffic."""
        rng = self.rng
        nums = np.asarray(gang.numbers, dtype=np.int32)
        per = rng.integers(120, 380, size=len(nums))
        caller = np.repeat(nums, per)
        k = len(caller)
        callee = self._targets(gang.typology, k)
        t = session_times(rng, per, day_ms)  # auto-dialers call in intense sessions (批量外呼)
        dur = np.clip(rng.lognormal(np.log(15), 0.8, size=k), 2, 600).astype(np.int32)
        dur[rng.random(k) < 0.55] = 0
        hooked = rng.random(k) < 0.02  # engaged for a while, did not pay
        dur[hooked] = rng.integers(120, 1200, size=int(hooked.sum()))
        if gang.typology in SMS_TYPOLOGIES:
            # SMS gangs text more than they call; about 1% of recipients open the link.
            lures = self.texts.add(render_fraud(rng, gang.typology, gang.domain, 40))
            sms.add(sender=caller, recipient=callee, time=t, text=lures[rng.integers(len(lures), size=k)])
            gang.reach = (caller, t)
            clicked = np.flatnonzero(rng.random(k) < 0.01)
            visits.add(number=callee[clicked], time=t[clicked] + rng.integers(MINUTE, HOUR, size=len(clicked)),
                       domain=self.domain_ids[gang.domain], path=rng.integers(0, 5, size=len(clicked)))
            keep = rng.random(k) < 0.25
            caller, callee, t, dur = caller[keep], callee[keep], t[keep], dur[keep]
        spoof = gang.typology is Typology.IMPERSONATE_POLICE and rng.random() < 0.5
        if spoof:
            gov = self.world.protected
            shown = gov[rng.integers(len(gov), size=len(caller))]
            for p in np.unique(shown).tolist():
                self.gt.fraud_numbers.append((p, gang.gang_id, "spoofed", gang.typology.value, day_ms))
            self._fraud_calls(calls, shown, callee, t, dur, spoof=True)
            caller = shown
        else:
            self._fraud_calls(calls, caller, callee, t, dur)
        if gang.typology not in SMS_TYPOLOGIES:
            gang.reach = (caller, t)
        self.gt.campaigns.append({"gang": gang.gang_id, "typology": gang.typology.value,
                                  "channel": "sms" if gang.typology in SMS_TYPOLOGIES else "call",
                                  "start": int(t.min()) if len(t) else day_ms, "domain": gang.domain, "targets": k})

    def _blitz(self, gang: Gang, day_ms: int, sms: Buffer, visits: Buffer) -> None:
        """An SMS blitz (医保停用): tens of thousands of lures within two hours."""
        rng, n = self.rng, self.world.residents.n
        reach = self.world.cfg.blitz_reach or min(60_000, int(0.3 * n))
        senders = self._new_numbers(gang, max(3, reach // 2500), day_ms, "sms_blaster")
        who = rng.choice(n, size=min(reach, n), replace=False).astype(np.int32)
        t0 = day_ms + 9 * HOUR + int(rng.integers(0, 4 * HOUR))
        t = t0 + rng.integers(0, 2 * HOUR, size=len(who))
        lures = self.texts.add(render_fraud(rng, gang.typology, gang.domain, 30))
        sms.add(sender=np.asarray(senders, np.int32)[rng.integers(len(senders), size=len(who))], recipient=who,
                time=t, text=lures[rng.integers(len(lures), size=len(who))])
        clicked = rng.random(len(who)) < 0.02
        visits.add(number=who[clicked], time=t[clicked] + rng.integers(MINUTE, 3 * HOUR, size=int(clicked.sum())),
                   domain=self.domain_ids[gang.domain], path=rng.integers(0, 5, size=int(clicked.sum())))
        self.gt.campaigns.append({"gang": gang.gang_id, "typology": gang.typology.value, "channel": "sms",
                                  "start": t0, "domain": gang.domain, "targets": len(who), "blitz": True})

    # ---- one victim: contact, engagement, transfers, report ---------------------------
    def _victim(self, gang: Gang, day_ms: int, calls: Buffer, sms: Buffer, visits: Buffer, tr: Buffer,
                orders: OrderNumbers) -> None:
        rng, typ, res = self.rng, gang.typology, self.world.residents
        for _ in range(20):
            p = int(self._targets(typ, 1)[0])
            if p not in self.victimised:
                break
        self.victimised.add(p)
        # The victim is first reached by one of the gang's mass calls or lures of the day (so the
        # number that reached them is active, and detectable, at that moment); the rest of the
        # timeline runs from there with the typology's lead time before the first transfer.
        lead = {
            Typology.IMPERSONATE_POLICE: (25, 120), Typology.FAKE_CUSTOMER_SERVICE: (20, 70),
            Typology.REBATE_TASK: (60, 360), Typology.FAKE_LOAN: (30, 180), Typology.PIG_BUTCHERING: (180, 720),
            Typology.IMPERSONATE_BOSS: (10, 60), Typology.MEDICAL_INSURANCE_SMS: (50, 150),
        }[typ]
        lead_ms = int(rng.integers(lead[0], lead[1] + 1)) * MINUTE
        reach_num, reach_t = gang.reach
        ok = np.flatnonzero(reach_t + lead_ms < day_ms + DAY - 30 * MINUTE)
        i = int(ok[rng.integers(len(ok))]) if len(ok) else int(rng.integers(len(reach_t)))
        t0, first_num = int(reach_t[i]), int(reach_num[i])
        t1 = t0 + lead_ms
        nums = gang.numbers
        contacted: list[int] = []
        first_contact = t1
        used_first = False

        def pick(spoof: bool) -> int:
            nonlocal used_first
            if not used_first:
                used_first = True
                return first_num
            if spoof:
                return int(self.world.protected[int(rng.integers(len(self.world.protected)))])
            return nums[int(rng.integers(len(nums)))]

        def call(at: int, minutes: tuple[int, int], spoof: bool = False) -> None:
            nonlocal first_contact
            caller = pick(spoof)
            spoofed = bool(np.isin(caller, self.world.protected))
            if spoofed:
                self.gt.fraud_numbers.append((caller, gang.gang_id, "spoofed", typ.value, at))
            dur = int(rng.integers(minutes[0] * 60, minutes[1] * 60 + 1))
            self._fraud_calls(calls, np.array([caller], np.int32), np.array([p], np.int32),
                              np.array([at], np.int64), np.array([dur], np.int32), spoof=spoofed)
            contacted.append(caller)
            first_contact = min(first_contact, at)

        def text(at: int) -> None:
            nonlocal first_contact
            sender = pick(False)
            lure = self.texts.add(render_fraud(rng, typ, gang.domain, 1))
            sms.add(sender=np.array([sender], np.int32), recipient=np.array([p], np.int32),
                    time=np.array([at], np.int64), text=lure)
            contacted.append(sender)
            first_contact = min(first_contact, at)

        def visit(at: int) -> None:
            visits.add(number=np.array([p], np.int32), time=np.array([at], np.int64),
                       domain=self.domain_ids[gang.domain], path=np.array([1], np.int8))

        def mins(lo: int, hi: int) -> int:
            return int(rng.integers(lo, hi + 1)) * MINUTE

        uses_domain = typ in SMS_TYPOLOGIES
        if typ is Typology.IMPERSONATE_POLICE:
            call(t0, (1, 3))
            call(t0 + 5 * MINUTE, (20, 90) if rng.random() < 0.7 else (10, 20), spoof=rng.random() < 0.5)
        elif typ is Typology.FAKE_CUSTOMER_SERVICE:
            call(t0, (10, 40))
        elif typ is Typology.REBATE_TASK:
            text(t0)
            visit(t0 + mins(1, 30))
            if rng.random() < 0.5:
                call(t0 + mins(10, 50), (3, 15))
        elif typ is Typology.FAKE_LOAN:
            text(t0)
            visit(t0 + mins(1, 20))
            call(t0 + mins(20, 29), (5, 15))
        elif typ is Typology.PIG_BUTCHERING:
            call(t0, (10, 60))
            for k in range(int(rng.integers(0, 3))):
                call(t0 + (k + 1) * mins(60, 170), (10, 60))
            text(t1 - 90 * MINUTE)
            visit(t1 - 60 * MINUTE)
        elif typ is Typology.IMPERSONATE_BOSS:
            text(t0)  # the chat-group invitation; no call
            visit(t1 - 8 * MINUTE)
        elif typ is Typology.MEDICAL_INSURANCE_SMS:
            text(t0)
            visit(t0 + mins(2, 30))
            call(t0 + mins(35, 45), (15, 40), spoof=rng.random() < 0.4)
        first_contact = min(first_contact, t1)

        # Transfers: escalating for 刷单/杀猪盘/贷款, one large for 冒充公检法/领导.
        lo, hi = N_TRANSFERS[typ]
        k = int(rng.integers(lo, hi + 1))
        loss = max(20_000, int(rng.lognormal(np.log(LOSS_MEDIAN_YUAN[typ] * 100), 0.8)))
        if k > 1:
            w = np.geomspace(1, 3 ** (k - 1), k) if typ in {Typology.REBATE_TASK, Typology.PIG_BUTCHERING,
                                                           Typology.FAKE_LOAN} else rng.dirichlet(np.ones(k) * 3)
            parts = np.floor(w / w.sum() * loss).astype(np.int64)
            parts[-1] += loss - parts.sum()
        else:
            parts = np.array([loss], np.int64)
        gaps = np.cumsum(np.concatenate([[0], rng.integers(3, 40, size=k - 1)])) * MINUTE
        src_acct = p
        if typ is Typology.IMPERSONATE_BOSS and res.employer[p] >= 0:
            src_acct = int(self.world.business_accounts[res.employer[p]])
        case = self.case_seq
        self.case_seq += 1
        l1_accounts: list[int] = []
        for amt, gap in zip(parts.tolist(), gaps.tolist(), strict=True):
            acct = self._mule(gang, 1)
            l1_accounts.append(acct)
            t = t1 + int(gap)
            add_payments(rng, self.world, tr, orders, np.array([src_acct], np.int32), np.array([acct], np.int32),
                         np.array([t], np.int64), np.array([amt], np.int64), 0.1, case=case, level=0)
            self._dispatch(gang, acct, 1, amt, t, case, tr, orders)
        reported: int | None = None
        if rng.random() < REPORT_PROB[typ]:
            last = t1 + int(gaps[-1])
            u = rng.random()
            if u < 0.3:
                reported = t1 + int(rng.integers(5, 30)) * MINUTE
                reported = max(reported, last + MINUTE) if reported < last else reported
            elif u < 0.8:
                reported = last + int(rng.lognormal(np.log(3 * HOUR), 0.7))
            else:
                reported = last + int(rng.integers(1, 10)) * DAY
        self.gt.victims.append({
            "case": case, "person": p, "gang": gang.gang_id, "typology": typ.value,
            "first_contact": first_contact, "first_transfer": t1, "loss": int(parts.sum()),
            "reported": reported, "contacted": sorted(set(contacted)), "l1": l1_accounts,
            "domain": gang.domain if uses_domain else None,
        })

    # ---- dispatch and cash-out groups -------------------------------------------------
    def _mule(self, gang: Gang, level: int) -> int:
        """A mule card at a level: reused across cases (so victims' money mixes) or newly bought."""
        rng, pool = self.rng, gang.mules.setdefault(level, [])
        if pool and rng.random() < 0.6:
            return pool[int(rng.integers(len(pool)))]
        world = self.world
        q = rng.choice([RegistrationQuality.VERIFIED.value, RegistrationQuality.INACCURATE.value,
                        RegistrationQuality.UNVERIFIED.value], p=[0.4, 0.4, 0.2])
        seller = int(rng.integers(world.residents.n))
        sold = q == RegistrationQuality.VERIFIED.value  # a resident sold their card (断卡 target)
        holder = world.residents.id_hash[seller] if sold else int(rng.integers(1 << 62))
        acct = int(world.accounts.add_bank(
            rng, 1, np.array([holder], np.int64), np.array([seller if sold else -1], np.int32), str(q),
            world.cfg.start_ms - int(rng.integers(1, 60)) * DAY,
        )[0])
        pool.append(acct)
        self.gt.mules.append((acct, gang.gang_id, level))
        return acct

    def _dispatch(self, gang: Gang, acct: int, level: int, amount: int, t: int, case: int, tr: Buffer,
                  orders: OrderNumbers) -> None:
        """Split and forward the money level by level, then cash it out (iterative, no recursion)."""
        rng = self.rng
        stack = [(acct, level, amount, t)]
        tp_share = self.world.cfg.third_party_hop_share
        while stack:
            a, lvl, amt, at = stack.pop()
            if rng.random() < 0.06:
                continue  # this mule sits on the money for now: still stoppable
            delay = max(20_000, int(rng.lognormal(np.log(4 * MINUTE), 0.6)))
            if lvl >= gang.depth or (lvl >= 2 and rng.random() < 0.05):
                self._cash_out(a, lvl, amt, at + delay, case, tr)
                continue
            fee = amt // 200 if rng.random() < 0.5 else 0  # the mule's cut stays on the card
            k = int(np.clip(round((amt - fee) / 3_000_000 + rng.random()), 1, 4))
            parts = split_cents(rng, amt - fee, k)
            kids = np.array([self._mule(gang, lvl + 1) for _ in parts], np.int32)
            when = at + delay + rng.integers(0, 90_000, size=len(parts))
            add_payments(rng, self.world, tr, orders, np.full(len(parts), a, np.int32), kids, when, parts,
                         tp_share, case=case, level=lvl)
            # Order-number hops land a few seconds later; children move after the latest landing.
            stack.extend((int(c), lvl + 1, int(v), int(w) + 20_000) for c, v, w in zip(kids, parts, when, strict=True))

    def _cash_out(self, acct: int, level: int, amount: int, at: int, case: int, tr: Buffer) -> None:
        rng = self.rng
        u = rng.random()
        if u < 0.5:  # ATM withdrawals of at most 20,000 yuan each
            k = int(np.ceil(amount / 2_000_000))
            parts = split_cents(rng, amount, k, min_share=1.0) if k > 1 else np.array([amount], np.int64)
            when = at + np.arange(len(parts), dtype=np.int64) * int(rng.integers(60_000, 180_000))
            tr.add(src=acct, dst=-1, time=when, amount=parts, channel=CH[Channel.ATM], order_no=0, case=case,
                   level=level)
        else:
            ch = CH[Channel.ABROAD] if u < 0.8 else CH[Channel.CRYPTO_OTC]
            tr.add(src=acct, dst=-1, time=at, amount=amount, channel=ch, order_no=0, case=case, level=level)

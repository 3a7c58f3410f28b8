"""Who lives in the simulated city: residents, their numbers, devices, accounts and contacts.

Everything is columnar: a :class:`NumberBook` holds every phone number that appears in
the city's records (residents, out-of-town contacts, businesses, service senders,
protected government lines, and — added by :mod:`fanzha.sim.gangs` — fraud numbers);
events refer to numbers by int32 position and are rendered to E.164 strings once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fanzha.contracts.vocab import AgeBand, NumberClass, RegistrationQuality
from fanzha.sim.config import SimConfig
from fanzha.sim.geography import BANK_WEIGHTS, BANKS, XIAMEN_DISTRICTS, prefix_table

AGE_BANDS = [a.value for a in AgeBand]
AGE_P = np.array([0.10, 0.20, 0.30, 0.24, 0.16])
CLASS_CODES = [NumberClass.LOCAL.value, NumberClass.OUT_OF_TOWN.value, NumberClass.VIRTUAL.value]
BANK_BINS = ["622202", "621700", "622848", "621661", "622260", "621483", "622909", "621799", "622377", "622690"]
STATIONS: list[tuple[int, str]] = [(d, s) for d, dist in enumerate(XIAMEN_DISTRICTS) for s in dist.stations]


@dataclass
class NumberBook:
    """All phone numbers of the city, column by column (grows as gangs buy new cards)."""

    national: list[np.ndarray] = field(default_factory=list)  # int64 national significant number
    carrier: list[np.ndarray] = field(default_factory=list)  # object
    cls: list[np.ndarray] = field(default_factory=list)  # int8 index into CLASS_CODES
    verified: list[np.ndarray] = field(default_factory=list)
    person: list[np.ndarray] = field(default_factory=list)  # int32 resident index or -1
    imei: list[np.ndarray] = field(default_factory=list)  # int64 device
    activated_ms: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(
        self,
        national: np.ndarray,
        carrier: np.ndarray,
        cls: np.ndarray | int,
        verified: np.ndarray | bool,
        person: np.ndarray | int,
        imei: np.ndarray,
        activated_ms: np.ndarray | int,
    ) -> np.ndarray:
        """Append numbers; returns their positions."""
        n = len(national)
        self.national.append(national.astype(np.int64))
        self.carrier.append(np.asarray(carrier, dtype=object))
        self.cls.append(np.broadcast_to(np.asarray(cls, dtype=np.int8), (n,)).copy())
        self.verified.append(np.broadcast_to(np.asarray(verified, dtype=bool), (n,)).copy())
        self.person.append(np.broadcast_to(np.asarray(person, dtype=np.int32), (n,)).copy())
        self.imei.append(imei.astype(np.int64))
        self.activated_ms.append(np.broadcast_to(np.asarray(activated_ms, dtype=np.int64), (n,)).copy())
        pos = np.arange(self.size, self.size + n, dtype=np.int32)
        self.size += n
        return pos

    def col(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name))

    def e164(self) -> pa.Array:
        """Every number as an E.164 string, in position order."""
        nat = pa.array(self.col("national"))
        return pc.binary_join_element_wise("+86", pc.cast(nat, pa.string()), "")


def draw_mobile(rng: np.random.Generator, cls: str, n: int, used: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """n distinct real-prefix mobile numbers of a class, with their carriers."""
    pre, car = prefix_table().of_class(cls)
    out = np.empty(0, dtype=np.int64)
    carriers = np.empty(0, dtype=object)
    while len(out) < n:
        k = int((n - len(out)) * 1.05) + 16
        i = rng.integers(len(pre), size=k)
        num = pre[i] * 10_000 + rng.integers(10_000, size=k)
        num, first = np.unique(num, return_index=True)
        keep = np.fromiter((x not in used for x in num.tolist()), dtype=bool, count=len(num))
        num, ci = num[keep], i[first][keep]
        take = min(len(num), n - len(out))
        out = np.concatenate([out, num[:take]])
        carriers = np.concatenate([carriers, car[ci[:take]]])
        used.update(num[:take].tolist())
    perm = rng.permutation(n)
    return out[perm], carriers[perm]


@dataclass
class Residents:
    """Per-resident columns (index = person id = position of the person's number)."""

    n: int
    district: np.ndarray  # int8
    station: np.ndarray  # int16 index into STATIONS
    age: np.ndarray  # int8 index into AGE_BANDS
    community: np.ndarray  # int32
    activity: np.ndarray  # float32, relative call volume
    finance_staff: np.ndarray  # bool: company finance staff (冒充领导 targets)
    employer: np.ndarray  # int32 business index or -1
    cell: np.ndarray  # int32 home cell
    id_hash: np.ndarray  # int64 (rendered as hex)
    account: np.ndarray  # int32 main bank account index
    degree: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))


def make_residents(rng: np.random.Generator, cfg: SimConfig, n_businesses: int) -> Residents:
    n = cfg.subscribers
    sizes = np.maximum(5, rng.lognormal(np.log(60), 0.7, size=n // 20 + 10).astype(np.int64))
    bounds = np.cumsum(sizes)
    n_comm = int(np.searchsorted(bounds, n, side="right")) + 1
    community = np.searchsorted(bounds, np.arange(n), side="right").astype(np.int32)
    shares = np.array([d.share for d in XIAMEN_DISTRICTS])
    comm_district = rng.choice(len(shares), size=n_comm, p=shares / shares.sum())
    district = comm_district[community].astype(np.int8)
    movers = rng.random(n) < 0.15
    district[movers] = rng.choice(len(shares), size=int(movers.sum()), p=shares / shares.sum())
    station = np.empty(n, dtype=np.int16)
    for d in range(len(XIAMEN_DISTRICTS)):
        idx = [i for i, (dd, _) in enumerate(STATIONS) if dd == d]
        m = district == d
        station[m] = np.asarray(idx, dtype=np.int16)[rng.integers(len(idx), size=int(m.sum()))]
    age = rng.choice(len(AGE_BANDS), size=n, p=AGE_P).astype(np.int8)
    working = (age >= 1) & (age <= 3)
    employer = np.where(working & (rng.random(n) < 0.75), rng.integers(n_businesses, size=n), -1).astype(np.int32)
    finance = (employer >= 0) & (rng.random(n) < 0.02)
    cells_per_district = max(4, n // 600)
    cell = (district.astype(np.int32) * cells_per_district + rng.integers(cells_per_district, size=n)).astype(
        np.int32
    )
    return Residents(
        n=n,
        district=district,
        station=station,
        age=age,
        community=community,
        activity=rng.lognormal(0.0, 0.8, size=n).astype(np.float32),
        finance_staff=finance,
        employer=employer,
        cell=cell,
        id_hash=rng.integers(1 << 62, size=n, dtype=np.int64),
        account=np.arange(n, dtype=np.int32),
    )


@dataclass
class ContactGraph:
    """Undirected social contacts with multiplicity (weights); heavy-tailed degrees."""

    src: np.ndarray  # int32 number position
    dst: np.ndarray  # int32 number position
    weight: np.ndarray  # float64 sampling weight per edge


def make_contacts(
    rng: np.random.Generator, res: Residents, out_of_town: np.ndarray, mean_degree: float = 12.0
) -> ContactGraph:
    """Communities with local ties, preferential long ties, family out of town."""
    n = res.n
    # Pareto tail (alpha ~ 1.9): most people have a handful of contacts, a few have hundreds.
    deg = np.minimum(2 + (rng.pareto(1.9, size=n) * (mean_degree - 2) * 0.45).astype(np.int64), 3000)
    res.degree = deg.astype(np.int32)
    src = np.repeat(np.arange(n, dtype=np.int32), deg)
    m = len(src)
    comm = res.community[src]
    _, comm_start, comm_size = np.unique(res.community, return_index=True, return_counts=True)
    kind = rng.random(m)
    local = kind < 0.72
    dst = np.empty(m, dtype=np.int64)
    dst[local] = comm_start[comm[local]] + (rng.random(int(local.sum())) * comm_size[comm[local]]).astype(np.int64)
    far = ~local
    cum = np.cumsum(deg.astype(np.float64))
    dst[far] = np.searchsorted(cum, rng.random(int(far.sum())) * cum[-1], side="right")
    family = kind > 0.93
    dst[family] = out_of_town[rng.integers(len(out_of_town), size=int(family.sum()))]
    self_loop = dst == src
    dst[self_loop] = (src[self_loop] + 1) % n
    # Busy people have more contacts and call more, but not proportionally: volume ~ degree^0.7.
    w = (res.activity[src] * deg[src].astype(np.float64) ** -0.3).astype(np.float64)
    return ContactGraph(src=src, dst=dst.astype(np.int32), weight=w)


@dataclass
class AccountBook:
    """Bank accounts (and platform pools) with their holders, column by column."""

    account_id: list[np.ndarray] = field(default_factory=list)  # object str
    kind: list[np.ndarray] = field(default_factory=list)  # object str
    institution: list[np.ndarray] = field(default_factory=list)
    holder: list[np.ndarray] = field(default_factory=list)  # int64 id hash, 0 = unknown
    holder_number: list[np.ndarray] = field(default_factory=list)  # int32 number position or -1
    quality: list[np.ndarray] = field(default_factory=list)
    opened_ms: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add_bank(
        self,
        rng: np.random.Generator,
        n: int,
        holder: np.ndarray,
        holder_number: np.ndarray,
        quality: str | np.ndarray,
        opened_ms: np.ndarray | int,
        bank: np.ndarray | None = None,
    ) -> np.ndarray:
        b = rng.choice(len(BANKS), size=n, p=BANK_WEIGHTS / BANK_WEIGHTS.sum()) if bank is None else bank
        bins = np.asarray(BANK_BINS, dtype=object)[b]
        serial = (np.arange(self.size, self.size + n, dtype=np.int64) * 7_919 + rng.integers(1000, size=n)) % (
            10**13
        )
        ids = bins + np.char.zfill(serial.astype(str), 13).astype(object)
        return self._add(
            ids, np.full(n, "bank", dtype=object), np.asarray([c for c, _ in BANKS], dtype=object)[b],
            holder, holder_number, quality, opened_ms,
        )

    def _add(
        self,
        ids: np.ndarray,
        kind: np.ndarray,
        inst: np.ndarray,
        holder: np.ndarray,
        holder_number: np.ndarray,
        quality: str | np.ndarray,
        opened_ms: np.ndarray | int,
    ) -> np.ndarray:
        n = len(ids)
        self.account_id.append(ids)
        self.kind.append(kind)
        self.institution.append(inst)
        self.holder.append(np.asarray(holder, dtype=np.int64))
        self.holder_number.append(np.asarray(holder_number, dtype=np.int32))
        self.quality.append(np.broadcast_to(np.asarray(quality, dtype=object), (n,)).copy())
        self.opened_ms.append(np.broadcast_to(np.asarray(opened_ms, dtype=np.int64), (n,)).copy())
        pos = np.arange(self.size, self.size + n, dtype=np.int32)
        self.size += n
        return pos

    def add_special(self, ids: list[str], kind: str, inst: list[str], opened_ms: int) -> np.ndarray:
        n = len(ids)
        return self._add(
            np.asarray(ids, dtype=object), np.full(n, kind, dtype=object), np.asarray(inst, dtype=object),
            np.zeros(n, np.int64), np.full(n, -1, np.int32), RegistrationQuality.VERIFIED.value, opened_ms,
        )

    def col(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name))

"""Simulator configuration: one seeded dataclass; same config, same city."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fanzha.contracts.vocab import Typology


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated city. Defaults give a Xiamen-like city with realistic ratios.

    Fraud intensity is set far above a real city's (real: ~1-2 reported cases per 100k
    people per day) so that small simulated cities still hold enough cases to measure.
    """

    subscribers: int = 20_000
    days: int = 1
    seed: int = 1
    start: datetime = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # 2026-11-03 00:00 Asia/Shanghai
    calls_per_person_day: float = 10.0
    sms_per_person_day: float = 3.0
    transfers_per_person_day: float = 1.7
    victims_per_100k_day: float = 40.0
    min_victims_per_day: int = 20
    n_gangs: int | None = None  # default: scales with city size
    mule_depth_range: tuple[int, int] = (2, 7)
    deep_gang_share: float = 0.25  # gangs whose trees reach 7+ levels
    third_party_hop_share: float = 0.15
    blitz_reach: int | None = None  # SMS blitz recipients per blitz day; default min(60k, 30% of city)
    typology_weights: dict[Typology, float] = field(
        default_factory=lambda: {
            Typology.IMPERSONATE_POLICE: 0.20,
            Typology.REBATE_TASK: 0.25,
            Typology.PIG_BUTCHERING: 0.10,
            Typology.IMPERSONATE_BOSS: 0.08,
            Typology.FAKE_LOAN: 0.12,
            Typology.FAKE_CUSTOMER_SERVICE: 0.17,
            Typology.MEDICAL_INSURANCE_SMS: 0.08,
        }
    )

    def __post_init__(self) -> None:
        if self.subscribers < 500:
            raise ValueError("a city needs at least 500 subscribers")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        lo, hi = self.mule_depth_range
        if not 1 <= lo <= hi <= 20:
            raise ValueError("mule_depth_range must satisfy 1 <= lo <= hi <= 20")

    @property
    def gangs(self) -> int:
        if self.n_gangs is not None:
            return self.n_gangs
        return int(min(40, max(7, round(self.subscribers / 50_000))))

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

"""The simulated city's fixed world: districts, police stations, carriers, banks, platforms.

Default city: Xiamen (厦门) with its six districts; resident shares follow the districts'
rough population sizes. Police-station names are illustrative of each district.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class District:
    name: str
    share: float
    stations: tuple[str, ...]


XIAMEN_DISTRICTS: tuple[District, ...] = (
    District("思明区", 0.21, ("中华派出所", "鹭江派出所", "开元派出所", "厦港派出所", "莲前派出所", "嘉莲派出所")),
    District("湖里区", 0.20, ("湖里派出所", "殿前派出所", "禾山派出所", "江头派出所", "金山派出所")),
    District("集美区", 0.19, ("集美派出所", "杏林派出所", "侨英派出所", "灌口派出所")),
    District("海沧区", 0.11, ("海沧派出所", "新阳派出所", "嵩屿派出所")),
    District("同安区", 0.17, ("大同派出所", "祥平派出所", "西柯派出所", "新民派出所")),
    District("翔安区", 0.12, ("新店派出所", "马巷派出所", "内厝派出所")),
)

# Bank code, name. About ten banks, the big four first (most accounts).
BANKS: tuple[tuple[str, str], ...] = (
    ("ICBC", "中国工商银行"),
    ("CCB", "中国建设银行"),
    ("ABC", "中国农业银行"),
    ("BOC", "中国银行"),
    ("BOCOM", "交通银行"),
    ("CMB", "招商银行"),
    ("CIB", "兴业银行"),
    ("PSBC", "中国邮政储蓄银行"),
    ("XMBANK", "厦门银行"),
    ("CITIC", "中信银行"),
)
BANK_WEIGHTS = np.array([0.18, 0.16, 0.14, 0.12, 0.07, 0.09, 0.09, 0.06, 0.05, 0.04])

# Third-party payment platforms and the pooled account through which their orders pass.
PLATFORMS: tuple[tuple[str, str], ...] = (("ALIPAY", "支付宝"), ("WECHAT", "微信支付"))


def platform_pool(code: str) -> str:
    """Ledger id of a platform's pooled account; money crosses it under an order number."""
    return f"TP-{code}-POOL"


@dataclass(frozen=True)
class PrefixTable:
    """Real 7-digit mobile prefixes (号段) by class, from phonenumbers' geocoding data."""

    prefix: np.ndarray  # int64 prefix7
    carrier: np.ndarray  # object (str)
    number_class: np.ndarray  # object (str)

    def of_class(self, cls: str) -> tuple[np.ndarray, np.ndarray]:
        m = self.number_class == cls
        return self.prefix[m], self.carrier[m]


@lru_cache(maxsize=1)
def prefix_table() -> PrefixTable:
    text = resources.files("fanzha.sim").joinpath("data/prefixes.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return PrefixTable(
        prefix=np.array([int(r["prefix7"]) for r in rows], dtype=np.int64),
        carrier=np.array([r["carrier"] for r in rows], dtype=object),
        number_class=np.array([r["number_class"] for r in rows], dtype=object),
    )

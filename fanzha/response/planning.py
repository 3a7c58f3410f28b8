"""The first response to a fraud report, planned in one pass (接处警合一：调查、封号、截留同步).

From the report's elements this decides every order the center issues at once — a
stop-payment per receiving account to its bank, a block per fraud number to its carrier
with the action for its number class, a takedown per domain, a resolution request per
third-party payment order number — with the golden-window deadline each carries. It is
pure (no database): the intake service persists the plan in one transaction, the tests
check it directly, and the simulator's partners read the same routing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fanzha.numbers.actions import CarrierAction, carrier_action, carrier_name
from fanzha.response.clocks import GoldenWindow
from fanzha.store.models import OrderKind  # one vocabulary for planner, store and API

UNKNOWN_ORG = "CENTER"  # orders whose addressee is unknown go to the center's own desk to route by hand
CARRIER_CODES = {"China Mobile": "CMCC", "China Unicom": "CUCC", "China Telecom": "CTCC"}


@dataclass(frozen=True)
class VictimTransfer:
    """One of the victim's own transfers as reported (受害人转账)."""

    amount_cents: int
    at: datetime
    to_account: str
    to_bank: str | None = None  # bank code of the receiving account, e.g. "ICBC"
    from_account: str | None = None
    from_bank: str | None = None
    order_no: str | None = None  # third-party payment order number, if paid through a platform
    platform: str | None = None  # "ALIPAY", "WECHAT", ...


@dataclass(frozen=True)
class PlannedOrder:
    kind: OrderKind
    target: str  # account, number, domain or order number
    addressee: str  # organisation code: bank, carrier, platform, or CENTER
    golden_window_ends: datetime | None = None
    amount_cents: int | None = None
    action: str | None = None  # carrier action for blocks
    note: str = ""


@dataclass
class FirstResponse:
    orders: list[PlannedOrder] = field(default_factory=list)
    trace_seeds: list[VictimTransfer] = field(default_factory=list)

    def of_kind(self, kind: OrderKind) -> list[PlannedOrder]:
        return [o for o in self.orders if o.kind is kind]


def plan_first_response(
    transfers: list[VictimTransfer],
    fraud_numbers: list[str],
    domains: list[str],
    home_city: str = "Xiamen",
) -> FirstResponse:
    """Every first-response order for one report, deduplicated, in a stable order."""
    plan = FirstResponse(trace_seeds=sorted(transfers, key=lambda t: t.at))
    by_account: dict[str, tuple[str, int, datetime]] = {}
    for t in transfers:
        if t.amount_cents <= 0:
            raise ValueError(f"transfer to {t.to_account} has a non-positive amount ({t.amount_cents})")
        if t.order_no:
            plan.orders.append(PlannedOrder(
                OrderKind.RESOLUTION, t.order_no, t.platform or UNKNOWN_ORG, GoldenWindow(t.at).ends_at,
                t.amount_cents, note="resolve the order number to the receiving bank card",
            ))
            continue
        bank, amount, first = by_account.get(t.to_account, (t.to_bank or UNKNOWN_ORG, 0, t.at))
        by_account[t.to_account] = (bank, amount + t.amount_cents, min(first, t.at))
    for account, (bank, amount, first) in sorted(by_account.items(), key=lambda kv: kv[1][2]):
        plan.orders.append(PlannedOrder(OrderKind.STOP_PAYMENT, account, bank, GoldenWindow(first).ends_at, amount))
    for number in sorted(set(fraud_numbers)):
        action: CarrierAction = carrier_action(number, home_city)
        org = CARRIER_CODES.get(carrier_name(number), UNKNOWN_ORG)
        plan.orders.append(PlannedOrder(OrderKind.BLOCK, number, org, action=action.value))
    for domain in sorted({d.strip().lower().rstrip(".") for d in domains if d.strip()}):
        plan.orders.append(PlannedOrder(OrderKind.TAKEDOWN, domain, "CNCERT"))
    return plan

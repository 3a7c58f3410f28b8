"""Return of frozen money (资金返还): confirmed frozen amounts back to the victims, to the cent.

For each account with a confirmed frozen amount, the trace says how much of the tainted
balance on it belongs to each victim. Money attributable to one victim goes back to that
victim directly; mixed money is shared pro rata to the victims' traced balances. The
returnable amount on an account is the frozen amount capped at the traced tainted balance
(rounded to cents): anything above it is the holder's own or untraced money and is listed
as not attributable, never handed to a victim.

Rounding (largest remainder, 最大余额法): each victim first gets the floor of their exact
share in cents; the cents left over go one each to the victims with the largest fractional
remainders (ties: the victim listed first in the trace). So per account the returns add up
exactly to the returnable amount, and the totals balance to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fanzha.tracing.trace import TraceResult


class RestitutionError(ValueError):
    """Inputs that cannot be turned into returns (negative amounts, a non-conserving policy...)."""


@dataclass(frozen=True)
class ReturnLine:
    victim: str
    account: str
    institution: str
    cents: int
    basis: str  # "direct" | "pro_rata"
    share: float  # the victim's share of the traced balance on the account


@dataclass
class Restitution:
    lines: list[ReturnLine] = field(default_factory=list)
    not_attributable: dict[str, int] = field(default_factory=dict)  # account -> cents not returned to victims
    frozen_total: int = 0

    def per_victim(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ln in self.lines:
            out[ln.victim] = out.get(ln.victim, 0) + ln.cents
        return out

    def statement(self, victim: str) -> list[ReturnLine]:
        """The victim's statement: every account their money is returned from."""
        return [ln for ln in self.lines if ln.victim == victim]

    @property
    def returned_total(self) -> int:
        return sum(ln.cents for ln in self.lines)


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` cents in proportion to ``weights``; parts are ints summing exactly to ``total``."""
    w = np.asarray(weights, np.float64)
    if total < 0 or (w < 0).any() or w.sum() <= 0:
        raise RestitutionError("largest remainder needs a non-negative total and positive weights")
    exact = total * (w / w.sum())
    base = np.floor(exact).astype(np.int64)
    left = int(total - base.sum())
    order = np.lexsort((np.arange(w.size), -(exact - base)))
    base[order[:left]] += 1
    return base


def restitution(result: TraceResult, frozen: Mapping[str, int]) -> Restitution:
    """Returns per victim from confirmed frozen amounts per account (see the module docstring)."""
    if result.policy == "poison":
        raise RestitutionError("poison amounts overlap between victims; trace with fifo, lifo or proportional")
    out = Restitution()
    ids = list(frozen)
    codes = result.ledger.codes_of(ids)
    insts = result.institutions(np.maximum(codes, 0))
    for acc, code, inst in zip(ids, codes.tolist(), insts, strict=True):
        amount = frozen[acc]
        if not isinstance(amount, int | np.integer) or amount < 0:
            raise RestitutionError(f"frozen amount on {acc} must be a non-negative integer of cents, got {amount!r}")
        amount = int(amount)
        out.frozen_total += amount
        m = (result.h_account == code) & (result.h_held > 0) if code >= 0 else np.zeros(0, bool)
        if code < 0 or not m.any():
            if amount:
                out.not_attributable[acc] = amount
            continue
        victims = result.h_victim[m]
        held = result.h_held[m]
        returnable = min(amount, int(np.round(held.sum())))
        if amount > returnable:
            out.not_attributable[acc] = amount - returnable
        if returnable == 0:
            continue
        parts = largest_remainder(returnable, held)
        basis = "direct" if victims.size == 1 else "pro_rata"
        share = held / held.sum()
        for v, c, s in zip(victims.tolist(), parts.tolist(), share.tolist(), strict=True):
            if c:
                out.lines.append(ReturnLine(result.victims[v], acc, inst if code >= 0 else "unknown", int(c),
                                            basis, float(s)))
    return out

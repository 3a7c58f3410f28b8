"""Turning the console's HTML forms into the service's input models, and errors back into fields.

People type yuan, local times and one item per line; the service wants cents, aware
datetimes and lists. The conversion lives here so the routes stay thin and the rules
(which field a validation error belongs to) are tested without a browser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from fanzha.response.schemas import ExecuteIn, ReportCreate

TRANSFER_ROWS = 3
TRANSFER_FIELDS = ("time", "amount", "bank", "account", "to_bank", "to_account", "channel", "order_no", "platform")
# form field → (ReportCreate location) for the scalar fields
_VICTIM_FIELDS = ("number", "name", "age_band", "district", "station")
_LIST_FIELDS = ("fraud_numbers", "urls", "domains", "apps", "social_accounts")


class FormError(ValueError):
    """Input that cannot even be shaped into the model (bad number, bad time, bad line)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def yuan_to_cents(raw: str) -> int:
    """'1,234.5' → 123450; refuses more than two decimals and non-numbers."""
    text = raw.replace(",", "").replace("，", "").replace("¥", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not an amount in yuan") from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{raw!r}: at most two decimals (fen)")
    return int(value * 100)


def local_time(raw: str, tz: ZoneInfo) -> datetime:
    """A ``datetime-local`` value (or ISO with an offset) as an aware datetime in the center's zone."""
    text = raw.strip().replace("/", "-")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not a date and time (YYYY-MM-DD HH:MM)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def lines(raw: str | None) -> list[str]:
    """Non-empty lines, also split on commas and semicolons (people paste lists either way)."""
    if not raw:
        return []
    return [p.strip() for p in re.split(r"[\n\r,;，；]+", raw) if p.strip()]


def _opt(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def report_from_form(form: Mapping[str, Any], tz: ZoneInfo) -> ReportCreate:
    """The intake form as a :class:`ReportCreate`; raises FormError or pydantic's ValidationError."""
    errors: dict[str, str] = {}
    transfers: list[dict[str, Any]] = []
    for i in range(TRANSFER_ROWS):
        row = {f: _opt(form, f"t{i}_{f}") for f in TRANSFER_FIELDS}
        if not any(row[f] for f in ("time", "amount", "to_account")):
            continue  # an empty row
        out: dict[str, Any] = {k: v for k, v in row.items() if v is not None and k not in ("time", "amount")}
        # A field that cannot be shaped gets a stand-in value, so the model still checks the rest
        # and the person sees every problem at once.
        try:
            out["amount_cents"] = yuan_to_cents(row["amount"] or "")
        except ValueError as exc:
            errors[f"t{i}_amount"] = str(exc)
            out["amount_cents"] = 1
        try:
            out["time"] = local_time(row["time"] or "", tz)
        except ValueError as exc:
            errors[f"t{i}_time"] = str(exc)
            out["time"] = datetime.now(tz)
        out.setdefault("to_account", "")
        transfers.append(out)
    order_numbers = []
    for n, item in enumerate(lines(_opt(form, "order_numbers")), start=1):
        platform, _, number = item.partition(" ")
        if not number.strip():
            errors["order_numbers"] = f"line {n}: write the platform code, a space, then the order number"
            break
        order_numbers.append({"platform": platform, "order_no": number.strip()})
    reported_at = None
    if _opt(form, "reported_at"):
        try:
            reported_at = local_time(str(form["reported_at"]), tz)
        except ValueError as exc:
            errors["reported_at"] = str(exc)
    data: dict[str, Any] = {
        "idempotency_key": _opt(form, "idempotency_key"),
        "reference": _opt(form, "reference"),
        "typology": _opt(form, "typology") or "other",
        "narrative": _opt(form, "narrative"),
        "victim": {k: v for k in _VICTIM_FIELDS if (v := _opt(form, f"victim_{k}")) is not None},
        "transfers": transfers,
        "order_numbers": order_numbers,
    }
    if reported_at is not None:
        data["reported_at"] = reported_at
    for name in _LIST_FIELDS:
        data[name] = lines(_opt(form, name))
    try:
        report = ReportCreate.model_validate(data)
    except ValidationError as exc:
        if not errors:
            raise
        raise FormError({**errors_by_field(exc), **errors}) from None
    if errors:
        raise FormError(errors)
    return report


def field_of(loc: tuple[Any, ...]) -> str:
    """The form field a ReportCreate validation error belongs to."""
    parts = [p for p in loc if p not in ("body",)]
    if not parts:
        return "_form"
    head = parts[0]
    if head == "victim" and len(parts) > 1:
        return f"victim_{parts[1]}"
    if head == "transfers" and len(parts) > 1 and isinstance(parts[1], int):
        name = str(parts[2]) if len(parts) > 2 else "to_account"
        name = {"amount_cents": "amount"}.get(name, name)
        return f"t{parts[1]}_{name}"
    if head in _LIST_FIELDS or head == "order_numbers":
        return str(head)
    return str(head)


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    """One message per form field (the first one, with the list line when the error is in a list)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        name = field_of(loc)
        msg = str(err.get("msg", "invalid"))
        if loc and loc[0] in (*_LIST_FIELDS, "order_numbers") and len(loc) > 1 and isinstance(loc[1], int):
            msg = f"line {loc[1] + 1}: {msg}"
        out.setdefault(name, msg)
    return out


# --------------------------------------------------------------------------- desk results


def statement_rows(raw: str | None, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Lines ``time, amount, receiving bank, receiving account[, channel]`` as statement rows.

    A cash-out leaves bank and account empty and names its channel (atm, abroad, crypto_otc).
    """
    rows: list[dict[str, Any]] = []
    for n, line in enumerate((raw or "").splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in re.split(r"[,，\t]", line)]
        if len(cells) < 4:
            raise FormError({"statement": f"line {n}: expected time, amount, bank, account[, channel]"})
        try:
            at = local_time(cells[0], tz)
            amount = yuan_to_cents(cells[1])
        except ValueError as exc:
            raise FormError({"statement": f"line {n}: {exc}"}) from None
        row: dict[str, Any] = {"time": at, "amount_cents": amount, "transfer_id": f"console-{n}"}
        if cells[2]:
            row["to_bank"] = cells[2]
        if cells[3]:
            row["to_account"] = cells[3]
        if len(cells) > 4 and cells[4]:
            row["channel"] = cells[4]
        rows.append(row)
    return rows


def execute_from_form(form: Mapping[str, Any], tz: ZoneInfo) -> ExecuteIn:
    """A desk's execute form as :class:`ExecuteIn`; raises FormError or ValidationError."""
    data: dict[str, Any] = {}
    amount = _opt(form, "amount_stopped")
    if amount is not None:
        try:
            data["amount_stopped_cents"] = yuan_to_cents(amount)
        except ValueError as exc:
            raise FormError({"amount_stopped": str(exc)}) from None
    for name in ("account_holder", "resolved_bank", "resolved_account", "note"):
        if (value := _opt(form, name)) is not None:
            data[name] = value
    data["statement_rows"] = statement_rows(_opt(form, "statement"), tz)
    return ExecuteIn.model_validate(data)


def execute_errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        head = str(loc[0]) if loc else "_form"
        name = {"amount_stopped_cents": "amount_stopped", "statement_rows": "statement"}.get(head, head)
        msg = str(err.get("msg", "invalid"))
        if head == "statement_rows" and len(loc) > 1 and isinstance(loc[1], int):
            msg = f"line {loc[1] + 1}: {msg}"
        out.setdefault(name, msg)
    return out

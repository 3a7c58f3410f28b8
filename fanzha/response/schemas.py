"""What goes in and out of the response service (报案 in, orders out), as pydantic models.

Create models validate and normalise the input once (E.164 numbers, upper-case bank
codes, lower-case domains, aware times), so the service below never re-checks them and
a bad field comes back as a 422 naming it. Public models are what the API returns;
desk views leave out personal data, so a desk's polling is not a personal-data read.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fanzha.contracts.vocab import AgeBand, Channel, NumberClass, Typology
from fanzha.response.clocks import GOLDEN_WINDOW
from fanzha.store.models import CaseStatus, ElementKind, OrderKind, OrderStatus, OrgKind, Role, TraceJobStatus

_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,31}$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _phone(raw: str) -> str:
    """E.164 via the contracts' normaliser (the same rules as every importer)."""
    from fanzha.contracts.phones import normalize_number
    from fanzha.settings import get_settings

    e164 = normalize_number(raw.strip(), get_settings().default_region)
    if e164 is None:
        raise ValueError(f"{raw!r} is not a valid phone number")
    return e164


def _code(raw: str) -> str:
    code = raw.strip().upper()
    if not _CODE_RE.fullmatch(code):
        raise ValueError(f"{raw!r} is not an organisation code (letters, digits, '-', '_', '.'; at most 32)")
    return code


def _domain(raw: str) -> str:
    host = raw.strip().lower().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{raw!r} is not a domain name") from None
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(_LABEL_RE.fullmatch(x) for x in labels):
        raise ValueError(f"{raw!r} is not a domain name")
    return host


def _url(raw: str) -> str:
    url = raw.strip()
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{raw!r} is not an http(s) URL")
    _domain(parts.hostname)
    return url


def _text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]
OrgCode = Annotated[str, Field(max_length=32), AfterValidator(_code)]
Domain = Annotated[str, Field(max_length=255), AfterValidator(_domain)]
Url = Annotated[str, Field(max_length=2000), AfterValidator(_url)]
Account = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_text)]
ShortText = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_text)]


def host_of(url: str) -> str:
    """The domain a reported URL points at (what a takedown targets)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    return _domain(parts.hostname or "")


# --------------------------------------------------------------------------- intake


class VictimIn(BaseModel):
    """The person who reported; personal data (every read of it is audited)."""

    model_config = ConfigDict(extra="forbid")

    number: Phone
    name: str | None = Field(default=None, max_length=200)
    id_hash: str | None = Field(default=None, max_length=128, description="Salted hash of the ID card number.")
    age_band: AgeBand | None = None
    district: str | None = Field(default=None, max_length=100)
    station: OrgCode | None = Field(default=None, description="Police unit code that took the report.")


class TransferIn(BaseModel):
    """One of the victim's own transfers (受害人转账)."""

    model_config = ConfigDict(extra="forbid")

    bank: OrgCode | None = Field(default=None, description="The victim's bank code.")
    account: Account | None = Field(default=None, description="The victim's account.")
    amount_cents: int = Field(gt=0, le=10**13, description="Amount in cents (分), > 0.")
    time: AwareDatetime = Field(description="When the money left (with a time zone): the golden window starts here.")
    to_bank: OrgCode | None = Field(default=None, description="Receiving bank code; unknown → the center's desk.")
    to_account: Account
    channel: Channel = Channel.BANK
    order_no: ShortText | None = Field(default=None, description="Third-party payment order number (订单号).")
    platform: OrgCode | None = Field(default=None, description="Payment platform code, e.g. ALIPAY.")

    @model_validator(mode="after")
    def _platform_needs_order(self) -> TransferIn:
        if self.platform and not self.order_no:
            raise ValueError("platform given without order_no")
        return self


class OrderNumberIn(BaseModel):
    """A third-party payment order number reported on its own."""

    model_config = ConfigDict(extra="forbid")

    order_no: ShortText
    platform: OrgCode


class ReportCreate(BaseModel):
    """A fraud report (报案): everything the first response is planned from."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=128, description="Or the Idempotency-Key header; resubmission = no-op."
    )
    reference: str | None = Field(default=None, max_length=64, description="Police report number (警情编号).")
    reported_at: AwareDatetime | None = None
    typology: Typology = Typology.OTHER
    victim: VictimIn
    narrative: str | None = Field(default=None, max_length=20_000)
    transfers: list[TransferIn] = Field(default_factory=list, max_length=500)
    fraud_numbers: list[Phone] = Field(default_factory=list, max_length=200)
    social_accounts: list[ShortText] = Field(default_factory=list, max_length=200)
    urls: list[Url] = Field(default_factory=list, max_length=200)
    domains: list[Domain] = Field(default_factory=list, max_length=200)
    apps: list[ShortText] = Field(default_factory=list, max_length=200)
    order_numbers: list[OrderNumberIn] = Field(default_factory=list, max_length=200)


# --------------------------------------------------------------------------- desk actions


class StatementRowIn(BaseModel):
    """One onward transaction of the stopped account, in the ``transfers`` contract's shape."""

    model_config = ConfigDict(extra="forbid")

    transfer_id: ShortText | None = None
    time: AwareDatetime
    from_account: Account | None = Field(default=None, description="Defaults to the order's account.")
    to_account: Account | None = Field(default=None, description="Null for cash-outs without a receiver.")
    to_bank: OrgCode | None = None
    amount_cents: int = Field(gt=0, le=10**13)
    channel: Channel = Channel.BANK
    order_no: ShortText | None = None
    balance_after_cents: int | None = Field(default=None, ge=0)


class ExecuteIn(BaseModel):
    """A desk's result. Stop-payment/freeze: amount stopped (+ holder, statement); resolution: the card."""

    model_config = ConfigDict(extra="forbid")

    amount_stopped_cents: int | None = Field(default=None, ge=0, le=10**13)
    account_holder: str | None = Field(default=None, max_length=200)
    statement_rows: list[StatementRowIn] = Field(default_factory=list, max_length=10_000)
    resolved_bank: OrgCode | None = None
    resolved_account: Account | None = None
    note: str | None = Field(default=None, max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _not_blank(self) -> RejectIn:
        if not self.reason.strip():
            raise ValueError("reason must not be blank")
        return self


class WebhookIn(BaseModel):
    """Where and how the outbox delivers an organisation's orders."""

    model_config = ConfigDict(extra="forbid")

    url: Url
    secret: str = Field(min_length=16, max_length=200, description="HMAC-SHA256 key for X-Fanzha-Signature.")


# --------------------------------------------------------------------------- public views


class OrderPublic(BaseModel):
    """An order as a desk's queue shows it: no personal data."""

    id: int
    kind: OrderKind
    status: OrderStatus
    case_id: int | None
    addressee: str
    target: str
    level: int
    amount_cents: int | None
    stop_sequence: int | None
    number_class: NumberClass | None
    carrier_action: str | None
    platform: str | None
    golden_window_start: datetime | None
    golden_window_ends_at: datetime | None
    deadline_at: datetime | None
    legal_expires_at: datetime | None
    reason: str | None
    created_at: datetime
    acknowledged_at: datetime | None
    executed_at: datetime | None
    rejected_at: datetime | None
    escalated_at: datetime | None


class StatementRowPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    transfer_id: str | None
    time: datetime = Field(validation_alias="occurred_at")
    from_account: str
    to_account: str | None
    to_bank: str | None
    amount_cents: int
    channel: Channel
    order_no: str | None
    balance_after_cents: int | None


class OrderDetail(OrderPublic):
    """An order with the desk's result: account holder and statement rows are personal data."""

    amount_held_cents: int | None
    account_holder: str | None
    resolved_bank: str | None
    resolved_account: str | None
    result: dict[str, Any] | None
    statement_rows: list[StatementRowPublic]


class VictimPublic(BaseModel):
    number: str | None
    name: str | None
    id_hash: str | None
    age_band: AgeBand | None
    district: str | None


class ElementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: ElementKind
    value: str


class TransferPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    time: datetime = Field(validation_alias="transferred_at")
    amount_cents: int
    bank: str | None = Field(validation_alias="from_bank")
    account: str | None = Field(validation_alias="from_account")
    to_bank: str | None
    to_account: str
    channel: Channel
    order_no: str | None
    platform: str | None


class CaseSummary(BaseModel):
    """A case in a list: no victim data."""

    id: int
    reference: str | None
    status: CaseStatus
    typology: Typology
    loss_cents: int
    reported_at: datetime
    first_transfer_at: datetime | None


class CasePublic(CaseSummary):
    """A whole case: the victim (personal data, audited), its elements, transfers, orders and trace."""

    idempotency_key: str
    victim: VictimPublic
    narrative: str | None
    police_unit: str | None
    elements: list[ElementPublic]
    transfers: list[TransferPublic]
    orders: list[OrderPublic]
    trace_job_id: int | None
    trace_status: TraceJobStatus | None


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    username: str | None
    role: Role | None
    organisation_id: int | None
    action: str
    object_type: str
    object_id: str | None
    personal_data: bool
    details: dict[str, Any] | None


class UserPublic(BaseModel):
    id: int
    username: str
    role: Role
    organisation: str
    organisation_kind: OrgKind


class OrganisationPublic(BaseModel):
    id: int
    code: str
    name: str
    kind: OrgKind
    webhook_url: str | None


def golden_window_end(start: datetime | None) -> datetime | None:
    return None if start is None else start + GOLDEN_WINDOW


def remaining(deadline: datetime | None, now: datetime) -> timedelta | None:
    return None if deadline is None else max(deadline - now, timedelta(0))

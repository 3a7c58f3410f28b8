"""The operations store's tables (业务库): who the partners are, what was reported, what was ordered.

Design notes
------------
* **One ``orders`` table** with a ``kind`` discriminator (single-table inheritance):
  :class:`StopPaymentOrder` (紧急止付), :class:`FreezeOrder` (冻结), :class:`BlockOrder`
  (封停号码), :class:`TakedownOrder` (封堵域名) and :class:`ResolutionRequest` (订单号解析)
  share the lifecycle, the addressee, the clocks and the desk queue. A desk's
  "my pending orders" is then one index scan over ``(organisation_id, status)``
  instead of a UNION of five tables, the outbox and the money-following loop refer to
  one key space, and the few per-kind columns are simply nullable.
* Money is ``BigInteger`` cents (分); timestamps are aware UTC (:class:`UTCDateTime`);
  vocabularies are VARCHAR(32) holding :class:`~enum.StrEnum` values, so a migration can
  add a value without touching a database type.
* Constraint names follow :data:`NAMING_CONVENTION` so later migrations (and SQLite's
  batch mode, which rebuilds tables) can name what they drop.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from fanzha.contracts.vocab import AgeBand, Channel, NumberClass, Typology
from fanzha.store.types import BigIntKey, JSONDoc, UTCDateTime, str_enum, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
    }


# --------------------------------------------------------------------------- vocabularies


class OrgKind(StrEnum):
    """Kinds of organisation on the platform (联动单位)."""

    BANK = "bank"
    CARRIER = "carrier"
    PAYMENT_PLATFORM = "payment_platform"  # 第三方支付
    POLICE_UNIT = "police_unit"  # 派出所 / 刑侦大队
    CENTER = "center"  # 反诈中心 itself
    AUTHORITY = "authority"  # CNCERT and other regulators: domain takedowns (封堵域名)


class Role(StrEnum):
    """What a user may do; organisation scoping comes on top of the role."""

    INTAKE_OFFICER = "intake_officer"  # 接警员
    STOP_PAYMENT_SPECIALIST = "stop_payment_specialist"  # 止付专员
    FUND_ANALYST = "fund_analyst"  # 资金研判
    COMMANDER = "commander"  # 指挥长
    BANK_DESK = "bank_desk"
    CARRIER_DESK = "carrier_desk"
    PAYMENT_DESK = "payment_desk"
    STATION_OFFICER = "station_officer"  # 派出所民警
    ADMIN = "admin"
    AUDITOR = "auditor"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ElementKind(StrEnum):
    """Kinds of reported element (涉案要素)."""

    PHONE = "phone"
    ACCOUNT = "account"
    DOMAIN = "domain"
    URL = "url"
    APP = "app"
    SOCIAL = "social"  # WeChat / QQ id
    ORDER_NO = "order_no"  # third-party payment order number (订单号)


class OrderKind(StrEnum):
    """Same values as the planner's order kinds (``fanzha.response.planning.OrderKind``)."""

    STOP_PAYMENT = "stop_payment"  # 紧急止付
    FREEZE = "freeze"  # 冻结
    BLOCK = "block"  # 封停号码
    TAKEDOWN = "takedown"  # 封堵域名
    RESOLUTION = "resolution"  # 订单号 → 银行卡


class OrderStatus(StrEnum):
    PENDING = "pending"  # issued, not yet seen by the desk
    ACKNOWLEDGED = "acknowledged"  # 已签收
    EXECUTED = "executed"  # 已执行 (result attached)
    REJECTED = "rejected"  # 已拒绝 (reason attached)
    ESCALATED = "escalated"  # deadline passed without action: raised to a commander
    EXPIRED = "expired"  # the legal clock ran out (stop-payment lapsed, freeze not renewed)


FINAL_STATUSES = frozenset({OrderStatus.REJECTED, OrderStatus.EXPIRED})

# Which moves a desk or a sweep may make. An escalated order can still be acted on; an
# executed stop-payment or freeze can still lapse.
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.ACKNOWLEDGED, OrderStatus.REJECTED, OrderStatus.ESCALATED, OrderStatus.EXPIRED}
    ),
    OrderStatus.ACKNOWLEDGED: frozenset(
        {OrderStatus.EXECUTED, OrderStatus.REJECTED, OrderStatus.ESCALATED, OrderStatus.EXPIRED}
    ),
    OrderStatus.ESCALATED: frozenset(
        {OrderStatus.ACKNOWLEDGED, OrderStatus.EXECUTED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
    ),
    OrderStatus.EXECUTED: frozenset({OrderStatus.EXPIRED}),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


def _identity(kind: OrderKind | None) -> dict[str, Any]:
    """Mapper arguments of the single-table order hierarchy: the base dispatches on ``kind``."""
    return {"polymorphic_on": "kind"} if kind is None else {"polymorphic_identity": kind}


class OrderTransitionError(ValueError):
    """An order was asked to move to a status its lifecycle does not allow."""


class TraceJobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ListKind(StrEnum):
    BLACK = "black"  # 黑名单
    WHITE = "white"  # 白名单 (protected numbers)


class ListDecision(StrEnum):
    PENDING_REVIEW = "pending_review"  # below the auto-confirm threshold: waits for a reviewer
    AUTO_CONFIRMED = "auto_confirmed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class AppealState(StrEnum):
    NONE = "none"
    FILED = "filed"  # 申诉中
    UPHELD = "upheld"  # the listing stands
    OVERTURNED = "overturned"  # the listing was wrong and is lifted


class ImportStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# --------------------------------------------------------------------------- partners and people


class Organisation(Base):
    """A bank, carrier, payment platform, police unit or the center (联动单位)."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, doc="Short code: ICBC, CMCC, ALIPAY, XM-SIMING-PS.")
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(str_enum(OrgKind))
    webhook_url: Mapped[str | None] = mapped_column(String(1000), doc="Where the outbox POSTs its orders, if anywhere.")
    webhook_secret: Mapped[str | None] = mapped_column(
        String(200), doc="HMAC key of the webhook signature (kept readable: the outbox must sign with it)."
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(Base):
    """A person who signs in; always belongs to exactly one organisation."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), doc="A salted slow hash (never the password).")
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="users")


# --------------------------------------------------------------------------- cases


class Case(Base):
    """A victim's report to the police (报案) and everything it set in motion."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(
        String(128), unique=True, doc="Client-chosen key: a resubmitted report finds its case instead of a twin."
    )
    reference: Mapped[str | None] = mapped_column(String(64), unique=True, doc="Police report number (警情编号).")
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus), default=CaseStatus.OPEN)
    typology: Mapped[Typology] = mapped_column(str_enum(Typology), default=Typology.OTHER)
    victim_name: Mapped[str | None] = mapped_column(String(200))
    victim_number: Mapped[str | None] = mapped_column(String(32), doc="E.164.")
    victim_id_hash: Mapped[str | None] = mapped_column(String(128), doc="Salted hash of the ID card number.")
    victim_age_band: Mapped[AgeBand | None] = mapped_column(str_enum(AgeBand))
    victim_district: Mapped[str | None] = mapped_column(String(100))
    narrative: Mapped[str | None] = mapped_column(Text)
    loss_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    reported_at: Mapped[datetime] = mapped_column(index=True)
    first_transfer_at: Mapped[datetime | None] = mapped_column(doc="The victim's first transfer: golden window start.")
    police_unit_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    elements: Mapped[list[CaseElement]] = relationship(
        back_populates="case", cascade="all, delete-orphan", passive_deletes=True
    )
    transfers: Mapped[list[CaseTransfer]] = relationship(
        back_populates="case", cascade="all, delete-orphan", passive_deletes=True
    )
    orders: Mapped[list[Order]] = relationship(back_populates="case", passive_deletes=True)
    trace_jobs: Mapped[list[TraceJob]] = relationship(back_populates="case", passive_deletes=True)


class CaseElement(Base):
    """One reported element (涉案要素): a number, account, domain, app, social id or order number."""

    __tablename__ = "case_elements"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "value"),
        Index(None, "kind", "value"),  # "which other cases mention this number?"
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[ElementKind] = mapped_column(str_enum(ElementKind))
    value: Mapped[str] = mapped_column(String(256), doc="Normalised: E.164 numbers, lower-case domains.")
    note: Mapped[str | None] = mapped_column(String(500))

    case: Mapped[Case] = relationship(back_populates="elements")


class CaseTransfer(Base):
    """One of the victim's own transfers as reported (受害人转账): where the money went first."""

    __tablename__ = "case_transfers"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    transferred_at: Mapped[datetime]
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    from_bank: Mapped[str | None] = mapped_column(String(32))
    from_account: Mapped[str | None] = mapped_column(String(64))
    to_bank: Mapped[str | None] = mapped_column(String(32))
    to_account: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel), default=Channel.BANK)
    order_no: Mapped[str | None] = mapped_column(String(64), doc="Third-party payment order number, if any.")
    platform: Mapped[str | None] = mapped_column(String(32))

    case: Mapped[Case] = relationship(back_populates="transfers")


# --------------------------------------------------------------------------- orders


class Order(Base):
    """An order addressed to one organisation's desk; its subclasses name the kind.

    ``target`` is what the order acts on: an account for stop-payment and freeze, an
    E.164 number for a block, a domain for a takedown, an order number for a
    resolution request. Status moves only through :meth:`advance`.
    """

    __tablename__ = "orders"
    __table_args__ = (
        Index(None, "organisation_id", "status"),  # a desk's queue
        Index(None, "kind", "target"),  # stops per account, dedupe of next-level orders
        Index(None, "status", "deadline_at"),  # the escalation sweep
        CheckConstraint("stop_sequence IS NULL OR stop_sequence BETWEEN 1 AND 2", name="stop_sequence_at_most_two"),
        CheckConstraint("amount_cents IS NULL OR amount_cents >= 0", name="amount_not_negative"),
        # One holder per legal stop slot of an account (at most two stops, counted across cases):
        # two reports racing for the same slot collide here and one retries (0002).
        Index(
            "uq_orders_stop_slot",
            "target",
            "stop_sequence",
            unique=True,
            postgresql_where=text("kind = 'stop_payment' AND status <> 'rejected'"),
            sqlite_where=text("kind = 'stop_payment' AND status <> 'rejected'"),
        ),
    )
    __mapper_args__ = _identity(None)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True, doc="Null for blocks raised by the firewall."
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    target: Mapped[str] = mapped_column(String(256))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus), default=OrderStatus.PENDING)
    level: Mapped[int] = mapped_column(SmallInteger, default=1, doc="Mule level of the account (1 = victim's payee).")
    parent_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), doc="The order whose result led here (money-following)."
    )
    amount_cents: Mapped[int | None] = mapped_column(BigInteger, doc="Money to stop or freeze.")
    amount_held_cents: Mapped[int | None] = mapped_column(BigInteger, doc="Money the bank actually stopped/froze.")
    account_holder: Mapped[str | None] = mapped_column(String(200), doc="Returned by the bank with its result.")
    golden_window_start: Mapped[datetime | None] = mapped_column(doc="The victim's transfer time (黄金止付时间 start).")
    deadline_at: Mapped[datetime | None] = mapped_column(doc="Escalate if not acted on by then (per-kind deadline).")
    legal_expires_at: Mapped[datetime | None] = mapped_column(doc="Stop-payment 48 h, freeze 6 months.")
    reason: Mapped[str | None] = mapped_column(Text, doc="Why rejected or escalated.")
    result: Mapped[dict[str, Any] | None] = mapped_column(doc="The desk's structured result.")
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    executed_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Per-kind columns (nullable; only the named kind fills them).
    stop_sequence: Mapped[int | None] = mapped_column(
        SmallInteger, doc="StopPayment: 1st or 2nd stop on this account (legal maximum 2)."
    )
    freeze_renewals: Mapped[int | None] = mapped_column(SmallInteger, doc="Freeze: times renewed (续冻).")
    number_class: Mapped[NumberClass | None] = mapped_column(str_enum(NumberClass), doc="Block: class of the number.")
    carrier_action: Mapped[str | None] = mapped_column(String(32), doc="Block: carrier action (CarrierAction).")
    list_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("number_list_entries.id", ondelete="SET NULL"), doc="Block: the blacklist entry behind it."
    )
    platform: Mapped[str | None] = mapped_column(String(32), doc="Resolution: payment platform code.")
    resolved_bank: Mapped[str | None] = mapped_column(String(32), doc="Resolution: bank of the card behind the order.")
    resolved_account: Mapped[str | None] = mapped_column(String(64), doc="Resolution: the card number.")

    case: Mapped[Case | None] = relationship(back_populates="orders")
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    parent_order: Mapped[Order | None] = relationship(remote_side="Order.id", foreign_keys=[parent_order_id])
    list_entry: Mapped[NumberListEntry | None] = relationship()
    statement_rows: Mapped[list[StatementRow]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )

    _STATUS_TIMESTAMP: ClassVar[dict[OrderStatus, str]] = {
        OrderStatus.ACKNOWLEDGED: "acknowledged_at",
        OrderStatus.EXECUTED: "executed_at",
        OrderStatus.REJECTED: "rejected_at",
        OrderStatus.ESCALATED: "escalated_at",
        OrderStatus.EXPIRED: "expired_at",
    }

    def advance(self, to: OrderStatus, at: datetime, reason: str | None = None) -> None:
        """Move to ``to`` if the lifecycle allows it, stamping the status's time."""
        current = OrderStatus(self.status or OrderStatus.PENDING)
        to = OrderStatus(to)
        if to not in ORDER_TRANSITIONS[current]:
            allowed = ", ".join(sorted(ORDER_TRANSITIONS[current])) or "nothing (final)"
            raise OrderTransitionError(f"order {self.id}: cannot go from {current} to {to}; allowed: {allowed}")
        if at.tzinfo is None:
            raise OrderTransitionError(f"order {self.id}: transition time {at.isoformat()} has no time zone")
        self.status = to
        setattr(self, self._STATUS_TIMESTAMP[to], at)
        if reason is not None:
            self.reason = reason


class StopPaymentOrder(Order):
    """紧急止付: hold an account's balance for 48 hours (at most twice per account)."""

    __mapper_args__ = _identity(OrderKind.STOP_PAYMENT)


class FreezeOrder(Order):
    """冻结: a police decision freezing an account for 6 months, renewable."""

    __mapper_args__ = _identity(OrderKind.FREEZE)


class BlockOrder(Order):
    """封停号码: the carrier acts on a fraud number according to its number class."""

    __mapper_args__ = _identity(OrderKind.BLOCK)


class TakedownOrder(Order):
    """封堵域名: a fraud domain is blocked or taken down."""

    __mapper_args__ = _identity(OrderKind.TAKEDOWN)


class ResolutionRequest(Order):
    """订单号解析: a payment platform names the bank card behind a third-party order number."""

    __mapper_args__ = _identity(OrderKind.RESOLUTION)


ORDER_CLASSES: dict[OrderKind, type[Order]] = {
    OrderKind.STOP_PAYMENT: StopPaymentOrder,
    OrderKind.FREEZE: FreezeOrder,
    OrderKind.BLOCK: BlockOrder,
    OrderKind.TAKEDOWN: TakedownOrder,
    OrderKind.RESOLUTION: ResolutionRequest,
}


class StatementRow(Base):
    """A transaction a bank desk returned with its result (流水): the account's onward money.

    Shaped like the ``transfers`` data contract so the tracing engine reads both alike.
    """

    __tablename__ = "statement_rows"
    __table_args__ = (UniqueConstraint("order_id", "transfer_id"),)  # a desk re-sending a row adds nothing

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    transfer_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    from_account: Mapped[str] = mapped_column(String(64), index=True)
    to_account: Mapped[str | None] = mapped_column(String(64), doc="Null for cash-outs without a traceable receiver.")
    to_bank: Mapped[str | None] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel), default=Channel.BANK)
    order_no: Mapped[str | None] = mapped_column(String(64))
    balance_after_cents: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    traced_at: Mapped[datetime | None] = mapped_column(doc="When the tracing loop consumed it (null = not yet).")

    order: Mapped[Order] = relationship(back_populates="statement_rows")


class TraceJob(Base):
    """A fund trace for a case (资金研判), advanced level by level as statements arrive."""

    __tablename__ = "trace_jobs"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    status: Mapped[TraceJobStatus] = mapped_column(str_enum(TraceJobStatus), default=TraceJobStatus.QUEUED, index=True)
    depth: Mapped[int] = mapped_column(SmallInteger, default=0, doc="Deepest mule level reached so far.")
    result: Mapped[dict[str, Any] | None] = mapped_column(doc="Summary: stopped, cashed out, open leads.")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(back_populates="trace_jobs")


# --------------------------------------------------------------------------- number lists (issue 4)


class NumberListEntry(Base):
    """A number on the blacklist (黑名单) or the protected whitelist (白名单), with its evidence."""

    __tablename__ = "number_list_entries"
    __table_args__ = (Index(None, "list_kind", "number"), Index(None, "decision"))

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    list_kind: Mapped[ListKind] = mapped_column(str_enum(ListKind))
    number: Mapped[str] = mapped_column(String(32), doc="E.164.")
    number_class: Mapped[NumberClass | None] = mapped_column(str_enum(NumberClass))
    owner: Mapped[str | None] = mapped_column(String(200), doc="Whitelist: the protected line's owner.")
    detector: Mapped[str | None] = mapped_column(String(64))
    rule_version: Mapped[str | None] = mapped_column(String(64), doc="Version of the rule or model that fired.")
    confidence: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(doc="The windows and records that fired.")
    decision: Mapped[ListDecision] = mapped_column(str_enum(ListDecision), default=ListDecision.PENDING_REVIEW)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    appeal_state: Mapped[AppealState] = mapped_column(str_enum(AppealState), default=AppealState.NONE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- plumbing


class OutboxMessage(Base):
    """Transactional outbox: written in the same transaction as the order, delivered afterwards.

    A crash between commit and delivery loses nothing (the row is there) and a retry
    duplicates nothing (the receiver sees the same ``idempotency_key``).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # The delivery worker's query: due and not yet delivered.
        Index(
            "ix_outbox_messages_due",
            "next_attempt_at",
            postgresql_where=text("delivered_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(String(64), doc="e.g. order.created, order.cancelled.")
    payload: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), doc="Dispatcher holding the row (SQLite claiming).")
    claimed_until: Mapped[datetime | None] = mapped_column(doc="Claim lapses then: a crashed worker's rows return.")

    organisation: Mapped[Organisation] = relationship()
    order: Mapped[Order | None] = relationship()


class AuditLog(Base):
    """Who did or saw what (审计日志); personal-data reads are logged too, flagged.

    ``username`` and ``role`` are copied so the record still reads right after the user
    is renamed, demoted or removed.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[Role | None] = mapped_column(str_enum(Role))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), doc="read, create, acknowledge, execute, reject, login, …")
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any] | None]


class ImportRun(Base):
    """One run of an importer: what came in, what passed, what was quarantined."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    file: Mapped[str] = mapped_column(String(1024))
    table_name: Mapped[str] = mapped_column(String(64), doc="Contract table (subscribers, calls, …).")
    mapping: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus), default=ImportStatus.RUNNING)
    rows_in: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_ok: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantine_file: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# --------------------------------------------------------------------------- precision warnings (issue 6)


class WarningStatus(StrEnum):
    OPEN = "open"  # waiting on the station (or the address-resolution queue)
    CLOSED = "closed"  # closing feedback given (reached, dissuaded, already lost, false alarm)


class WarningRecord(Base):
    """A dispatched warning (预警): one person at risk, graded, routed to a police station.

    At most one open warning per person (``uq_warnings_open_person``): a later, higher
    grade upgrades it in place. ``station`` is the jurisdiction's station name from the
    register (null when unknown); ``organisation_id`` the police unit on the platform
    that works it (null = the center's address-resolution queue). ``channel`` and
    ``deadline_at`` start from the grade's policy and move up on escalation. Grades,
    channels and feedback states are the values of :mod:`fanzha.warning.risk` and
    :mod:`fanzha.warning.dispatch`.
    """

    __tablename__ = "warnings"
    __table_args__ = (
        Index(None, "organisation_id", "status"),  # a station's board
        Index(None, "status", "deadline_at"),  # the escalation sweep
        CheckConstraint("grade BETWEEN 1 AND 4", name="grade_1_to_4"),
        Index(
            "uq_warnings_open_person",
            "person",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    person: Mapped[str] = mapped_column(String(32), doc="The person's number (E.164 or the register's id).")
    district: Mapped[str | None] = mapped_column(String(100))
    station: Mapped[str | None] = mapped_column(String(100), doc="Jurisdiction's station; null = address unknown.")
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), doc="Police unit working it; null = address resolution."
    )
    grade: Mapped[int] = mapped_column(SmallInteger, doc="WarningGrade: 1 低危 … 4 特危.")
    channel: Mapped[str] = mapped_column(String(32), doc="dispatch.Channel value: sms, call, visit.")
    deadline_at: Mapped[datetime]
    warned_at: Mapped[datetime] = mapped_column(doc="First contact that opened the warning.")
    graded_at: Mapped[datetime] = mapped_column(doc="When the warning reached its current grade.")
    p: Mapped[float] = mapped_column(Float, doc="Highest calibrated probability of becoming a victim.")
    elements: Mapped[list[str]] = mapped_column(JSONDoc, doc="The fraud elements that reached the person.")
    model_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[WarningStatus] = mapped_column(str_enum(WarningStatus), default=WarningStatus.OPEN)
    push_seq: Mapped[int | None] = mapped_column(BigInteger, doc="First found, first pushed: order of dispatch.")
    escalations: Mapped[int] = mapped_column(SmallInteger, default=0, doc="Times the channel went up.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    organisation: Mapped[Organisation | None] = relationship()
    feedback: Mapped[list[WarningFeedback]] = relationship(
        back_populates="warning", cascade="all, delete-orphan", passive_deletes=True, order_by="WarningFeedback.id"
    )


class WarningFeedback(Base):
    """What the station reports back (反馈): training data for the risk model too."""

    __tablename__ = "warning_feedback"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(32), doc="dispatch.Feedback value.")
    note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    warning: Mapped[WarningRecord] = relationship(back_populates="feedback")


# --------------------------------------------------------------------------- return of frozen money (issue 3 §5)


class FundReturn(Base):
    """Frozen money returned to a victim (资金返还): one line per victim per frozen account.

    Written once per freeze order and victim (a unique key on both): returning
    an account's money again finds the lines already there. ``basis`` is ``direct`` when
    the trace attributes the account's tainted balance to this victim alone, ``pro_rata``
    when the money is mixed; ``share`` is the victim's share of that balance. Amounts add
    up, per account, to the frozen amount capped at the traced balance, to the cent.
    """

    __tablename__ = "fund_returns"
    __table_args__ = (
        UniqueConstraint("freeze_order_id", "case_id"),
        CheckConstraint("cents > 0", name="return_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True,
                                         doc="The victim's case the money goes back to.")
    freeze_order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True,
                                                 doc="The executed freeze holding the money.")
    account: Mapped[str] = mapped_column(String(64), doc="The frozen account the money comes from.")
    institution: Mapped[str] = mapped_column(String(32), doc="The bank holding the account.")
    cents: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(16), doc="direct | pro_rata")
    share: Mapped[float] = mapped_column(Float)
    batch: Mapped[str] = mapped_column(String(36), index=True, doc="One return decision: every line it made.")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

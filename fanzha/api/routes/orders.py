"""Desks (驻点): each organisation's queue of orders, and acting on them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from fanzha.api.core.security import TokenError, verify_access_token
from fanzha.api.deps import Database, DbDep, PolicyDep, SettingsDep, TokenDep, require
from fanzha.response import service
from fanzha.response.schemas import ExecuteIn, OrderDetail, OrderPublic, RejectIn
from fanzha.response.service import CENTER_ROLES, ORDER_READERS, QUEUE_ROLES, InvalidInput
from fanzha.store.audit import Actor
from fanzha.store.models import OrderKind, OrderStatus

router = APIRouter(prefix="/api", tags=["orders"])

Desk = Annotated[Actor, Depends(require(QUEUE_ROLES))]
Center = Annotated[Actor, Depends(require(CENTER_ROLES))]
Reader = Annotated[Actor, Depends(require(ORDER_READERS))]
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such order for your organisation"},
    409: {"description": "The order's status does not allow this"},
}


_QUEUE = TypeAdapter(list[OrderPublic])


@router.get("/desk/orders", response_model=list[OrderPublic])
async def desk_queue(
    actor: Desk,
    db: DbDep,
    status: OrderStatus | None = None,
    case_id: int | None = None,
    after_id: Annotated[int | None, Query(description="Only orders with a larger id (incremental polling).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """Your own organisation's orders, oldest first."""
    # Desks poll this: read on the loop (see Database.read_in_loop) and serialise once,
    # instead of a thread-pool round trip and FastAPI re-validating the models it was given.
    with db.read_in_loop() as session:
        orders = service.desk_orders(session, actor, status=status, case_id=case_id, after_id=after_id, limit=limit)
    return Response(_QUEUE.dump_json(orders), media_type="application/json")


STREAM_BATCH = 200
HEARTBEAT_SECONDS = 15.0


@router.get("/desk/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-sent events: `order` per new order, `end` when access ends"}})
async def desk_stream(
    actor: Desk,
    db: DbDep,
    settings: SettingsDep,
    token: TokenDep,
    after_id: Annotated[int | None, Query(ge=0, description="Send orders with a larger id first (default: "
                                                              "only orders created from now on).")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20,
                                                description="Resume after this order id (set by EventSource).")] = None,
) -> StreamingResponse:
    """Your own organisation's new orders as they are committed (server-sent events), oldest first.

    Each order is one ``event: order`` whose ``id`` is the order id and whose ``data`` is
    the queue's JSON for it; reconnect with ``Last-Event-ID`` (or ``after_id``) to lose
    nothing. The stream ends with ``event: end`` when the token expires or the user loses
    access; a comment line every 15 s keeps proxies from closing an idle stream.
    """
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise InvalidInput(("header", "Last-Event-ID"), "must be an order id")
        after_id = int(last_event_id)
    try:
        _user_id, expires_at = verify_access_token(token, settings)
    except TokenError as exc:  # checked by the dependency a moment ago; expired in between
        raise InvalidInput(("header", "Authorization"), str(exc)) from None
    if after_id is None:
        with db.read_in_loop() as session:
            after_id = service.desk_last_order_id(session, actor)
    return StreamingResponse(_desk_events(db, actor, after_id, expires_at, settings.desk_stream_poll_seconds),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _desk_events(db: Database, actor: Actor, after_id: int, expires_at: float,
                       poll_seconds: float) -> AsyncIterator[str]:
    """The event stream of :func:`desk_stream`: read on wake-up, send, wait for the next commit.

    Woken by a commit, a stream takes its organisation's new orders from the feed's shared
    read; at the start (its backlog), after its fallback timer, or when it is further
    behind than the feed holds, it reads its queue itself.
    """
    last = after_id
    quiet_since = time.monotonic()
    woken = False
    with db.feed.opened(actor.organisation_id or 0):
        while True:
            left = expires_at - time.time()
            if left <= 0:
                yield 'event: end\ndata: {"reason": "token expired"}\n\n'
                return
            current = await db.actors.get(actor.user_id or 0)
            if current is None or current.role not in QUEUE_ROLES or current.organisation_id != actor.organisation_id:
                yield 'event: end\ndata: {"reason": "access revoked"}\n\n'
                return
            generation = db.feed.generation  # before the read: a commit after it moves the generation
            organisation = current.organisation_id
            held = db.feed.take(organisation, last) if woken and organisation is not None else None
            if held is None:
                with db.connect_in_loop() as conn:
                    orders = service.desk_orders_after(conn, current, last, STREAM_BATCH)
            else:
                orders = held[:STREAM_BATCH]
            if orders:
                last = orders[-1].id
                quiet_since = time.monotonic()
                yield "".join(f"id: {o.id}\nevent: order\ndata: {o.model_dump_json()}\n\n" for o in orders)
                if len(orders) == STREAM_BATCH:
                    continue
            elif time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            woken = await db.feed.wait(generation, min(poll_seconds, max(left, 0.0)))


@router.get("/orders", response_model=list[OrderPublic])
def all_orders(
    actor: Center,
    db: DbDep,
    status: OrderStatus | None = None,
    kind: OrderKind | None = None,
    case_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[OrderPublic]:
    """Every organisation's orders (the center's view, e.g. ``status=escalated``), newest first."""
    with db.read() as session:
        return service.list_orders(session, actor, status=status, kind=kind, case_id=case_id, limit=limit)


@router.get("/orders/{order_id}", response_model=OrderDetail, responses=_ERRORS)
def get_order(order_id: int, actor: Reader, db: DbDep) -> OrderDetail:
    """One order with its result; a desk sees only its own organisation's orders."""
    with db.write() as session:
        return service.get_order(session, actor, order_id)


@router.post("/orders/{order_id}/acknowledge", response_model=OrderDetail, responses=_ERRORS)
def acknowledge(order_id: int, actor: Desk, db: DbDep, policy: PolicyDep) -> OrderDetail:
    """签收: the execution deadline starts."""
    with db.write() as session:
        return service.acknowledge(session, actor, order_id, policy=policy)


@router.post("/orders/{order_id}/execute", response_model=OrderDetail, responses=_ERRORS)
def execute(order_id: int, result: ExecuteIn, actor: Desk, db: DbDep) -> OrderDetail:
    """执行 with a result: amount stopped, account holder, the account's onward transactions."""
    with db.write() as session:
        return service.execute(session, actor, order_id, result)


@router.post("/orders/{order_id}/reject", response_model=OrderDetail, responses=_ERRORS)
def reject(order_id: int, body: RejectIn, actor: Desk, db: DbDep) -> OrderDetail:
    """拒绝 with a reason."""
    with db.write() as session:
        return service.reject(session, actor, order_id, body.reason)

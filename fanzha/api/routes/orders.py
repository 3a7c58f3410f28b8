"""Desks (驻点): each organisation's queue of orders, and acting on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import TypeAdapter

from fanzha.api.deps import DbDep, PolicyDep, require
from fanzha.response import service
from fanzha.response.schemas import ExecuteIn, OrderDetail, OrderPublic, RejectIn
from fanzha.response.service import CENTER_ROLES, ORDER_READERS, QUEUE_ROLES
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

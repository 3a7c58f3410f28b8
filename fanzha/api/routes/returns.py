"""Freeze after stop-payment (止付转冻结) and return of frozen money (资金返还)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from fanzha.api.deps import DbDep, PolicyDep, require
from fanzha.response import returns
from fanzha.response.returns import (
    FREEZE_ROLES,
    RETURN_ROLES,
    FreezePublic,
    ReturnLinePublic,
    ReturnPlanPublic,
)
from fanzha.response.service import CASE_READERS
from fanzha.store.audit import Actor

router = APIRouter(prefix="/api", tags=["returns"])

Freezer = Annotated[Actor, Depends(require(FREEZE_ROLES))]
Returner = Annotated[Actor, Depends(require(RETURN_ROLES))]
Reader = Annotated[Actor, Depends(require(CASE_READERS))]
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such case or order"},
    409: {"description": "Nothing to freeze, or too many linked cases"},
}


@router.post("/orders/{order_id}/freeze", response_model=FreezePublic, status_code=status.HTTP_201_CREATED,
             responses=_ERRORS)
def freeze_stopped(order_id: int, actor: Freezer, db: DbDep, policy: PolicyDep) -> FreezePublic:
    """Turn an executed stop-payment into a FreezeOrder for the money it holds (idempotent)."""
    with db.write() as session:
        return FreezePublic(freeze_order_id=returns.freeze_stopped(session, actor, order_id, policy=policy))


@router.get("/cases/{case_id}/returns/plan", response_model=ReturnPlanPublic, responses=_ERRORS)
def plan_returns(case_id: int, actor: Returner, db: DbDep) -> ReturnPlanPublic:
    """Preview: what returning the executed freezes of this case and its linked cases would give each case."""
    with db.read() as session:
        return ReturnPlanPublic.of(returns.plan_returns(session, case_id))


@router.post("/cases/{case_id}/returns", response_model=ReturnPlanPublic, responses=_ERRORS)
def return_frozen_money(case_id: int, actor: Returner, db: DbDep) -> ReturnPlanPublic:
    """Record the return of frozen money for the case and every case linked to it (once per freeze)."""
    with db.write() as session:
        return ReturnPlanPublic.of(returns.return_frozen_money(session, actor, case_id))


@router.get("/cases/{case_id}/returns", response_model=list[ReturnLinePublic], responses=_ERRORS)
def case_returns(case_id: int, actor: Reader, db: DbDep) -> list[ReturnLinePublic]:
    """The victim's statement: money returned to this case, per account (an audited read)."""
    with db.write() as session:
        return [ReturnLinePublic.model_validate(r) for r in returns.case_returns(session, actor, case_id)]

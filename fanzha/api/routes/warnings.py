"""Police stations (派出所): the warnings they work and their feedback (精准宣防)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from fanzha.api.deps import DbDep, require
from fanzha.store.audit import Actor
from fanzha.store.models import WarningStatus
from fanzha.warning import store
from fanzha.warning.dispatch import Feedback
from fanzha.warning.store import FEEDBACK_ROLES, WARNING_READERS, WarningPublic

router = APIRouter(prefix="/api/warnings", tags=["warnings"])

Reader = Annotated[Actor, Depends(require(WARNING_READERS))]
Station = Annotated[Actor, Depends(require(FEEDBACK_ROLES))]
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such warning for your police unit"},
    409: {"description": "The warning is already closed"},
}


class FeedbackIn(BaseModel):
    state: Feedback
    note: str | None = Field(default=None, max_length=2000)


@router.get("", response_model=list[WarningPublic])
def list_warnings(
    actor: Reader,
    db: DbDep,
    status: WarningStatus | None = WarningStatus.OPEN,
    address_resolution: Annotated[bool, Query(description="Only those without a police unit.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[WarningPublic]:
    """A station officer's own unit's warnings (commanders and admins: all), by grade then deadline."""
    with db.write() as session:  # a read of people's numbers is audited
        return store.station_queue(session, actor, status=status, address_resolution=address_resolution,
                                   limit=limit)


@router.post("/{warning_id}/feedback", response_model=WarningPublic, responses=_ERRORS)
def feedback(warning_id: int, body: FeedbackIn, actor: Station, db: DbDep) -> WarningPublic:
    """反馈: a closing state closes the warning; not_reachable raises its channel."""
    with db.write() as session:
        return store.give_feedback(session, actor, warning_id, body.state, body.note)

"""The audit log (审计日志), for auditors and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fanzha.api.deps import DbDep, require
from fanzha.response import service
from fanzha.response.schemas import AuditPublic
from fanzha.response.service import AUDIT_READERS
from fanzha.store.audit import Actor

router = APIRouter(prefix="/api/audit", tags=["audit"])

Auditor = Annotated[Actor, Depends(require(AUDIT_READERS))]


@router.get("", response_model=list[AuditPublic])
def read_audit(
    actor: Auditor,
    db: DbDep,
    object_type: str | None = None,
    object_id: str | None = None,
    personal_data: bool | None = None,
    after_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditPublic]:
    """Newest first; filter by object, by personal-data flag, or page with ``after_id``."""
    with db.read() as session:
        return service.read_audit(session, actor, object_type=object_type, object_id=object_id,
                                  personal_data=personal_data, after_id=after_id, limit=limit)

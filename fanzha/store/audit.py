"""Writing the audit log (审计日志): one helper every capability uses for reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fanzha.store.models import AuditLog, Role
from fanzha.store.types import utcnow


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, or a named system process (user_id None)."""

    username: str
    role: Role | None = None
    user_id: int | None = None
    organisation_id: int | None = None


SYSTEM = Actor(username="system")


def audit(session: Session, actor: Actor, action: str, object_type: str, object_id: str | int | None,
          personal_data: bool = False, details: dict[str, Any] | None = None) -> AuditLog:
    """Add an audit row in the caller's transaction (it commits or rolls back with the act itself)."""
    row = AuditLog(user_id=actor.user_id, username=actor.username, role=actor.role,
                   organisation_id=actor.organisation_id, action=action, object_type=object_type,
                   object_id=None if object_id is None else str(object_id), personal_data=personal_data,
                   details=details)
    session.add(row)
    return row


def audit_values(actor: Actor, action: str, object_type: str, object_id: str | int | None,
                 personal_data: bool = False, details: dict[str, Any] | None = None,
                 at: datetime | None = None) -> dict[str, Any]:
    """One ``audit_log`` row as INSERT parameters, for hot paths that write rows in bulk.

    Intake writes a burst's audit rows with one Core statement
    (:func:`fanzha.store.db.insert_rows`): the ORM unit of work's flush cost about a
    millisecond a row. Same transaction, same
    columns as :func:`audit`, so each row rolls back with the act it records.
    """
    return {
        "at": at or utcnow(), "user_id": actor.user_id, "username": actor.username, "role": actor.role,
        "organisation_id": actor.organisation_id, "action": action, "object_type": object_type,
        "object_id": None if object_id is None else str(object_id), "personal_data": personal_data,
        "details": details,
    }

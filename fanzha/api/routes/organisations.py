"""Organisations on the platform and their webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from fanzha.api.deps import ActorDep, DbDep, require
from fanzha.response import service
from fanzha.response.schemas import OrganisationPublic, WebhookIn
from fanzha.response.service import WEBHOOK_ROLES
from fanzha.store.audit import Actor
from fanzha.store.models import Organisation

router = APIRouter(prefix="/api/organisations", tags=["organisations"])

HookAdmin = Annotated[Actor, Depends(require(WEBHOOK_ROLES))]


def _public(org: Organisation) -> OrganisationPublic:
    return OrganisationPublic(id=org.id, code=org.code, name=org.name, kind=org.kind, webhook_url=org.webhook_url)


@router.get("", response_model=list[OrganisationPublic])
def list_organisations(actor: ActorDep, db: DbDep) -> list[OrganisationPublic]:
    """Every active partner (no secrets)."""
    del actor
    with db.read() as session:
        orgs = session.scalars(select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.code))
        return [_public(o) for o in orgs]


@router.put("/{code}/webhook", response_model=OrganisationPublic, responses={404: {}})
def set_webhook(code: str, hook: WebhookIn, actor: HookAdmin, db: DbDep) -> OrganisationPublic:
    """Where new orders for this organisation are POSTed, signed with the secret. A desk: its own only."""
    with db.write() as session:
        return _public(service.set_webhook(session, actor, code.upper(), hook))

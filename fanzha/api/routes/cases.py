"""Intake (接警): a fraud report in, every first-response order out, in one transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from fanzha.api.deps import DbDep, HookDep, PolicyDep, SettingsDep, require
from fanzha.api.writer import ARRIVAL_SCOPE_KEY, INTAKE_PATH, IntakeWriter
from fanzha.response import service
from fanzha.response.schemas import CasePublic, CaseSummary, ReportCreate
from fanzha.response.service import CASE_READERS, INTAKE_ROLES, InvalidInput
from fanzha.store.audit import Actor

router = APIRouter(prefix=INTAKE_PATH, tags=["cases"])  # the path IntakeArrivals counts

Intake = Annotated[Actor, Depends(require(INTAKE_ROLES))]
Reader = Annotated[Actor, Depends(require(CASE_READERS))]


@router.post(
    "",
    response_model=CasePublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CasePublic, "description": "Resubmission: the case the key already made"}},
)
async def submit_report(
    report: ReportCreate,
    request: Request,
    actor: Intake,
    settings: SettingsDep,
    policy: PolicyDep,
    hook: HookDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Response:
    """Create the case, its stop-payment, block, takedown and resolution orders and its trace job at once.

    The ``Idempotency-Key`` header (or ``idempotency_key`` field) is required: sending the
    same key again returns the original case with 200 and creates nothing.
    """
    if idempotency_key and report.idempotency_key and idempotency_key != report.idempotency_key:
        raise InvalidInput(("header", "Idempotency-Key"), "differs from the body's idempotency_key")
    # Group commit (fanzha.api.writer): concurrent reports share one transaction, a SAVEPOINT each.
    writer: IntakeWriter = request.app.state.intake_writer
    result = await writer.submit(report, actor, request.scope.get(ARRIVAL_SCOPE_KEY), idempotency_key=idempotency_key,
                                 home_city=settings.home_city, policy=policy, hook=hook)
    # The case was built from what was written: serialise it once, no second validation pass.
    return Response(result.case.model_dump_json(), media_type="application/json",
                    status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


@router.get("", response_model=list[CaseSummary])
def list_cases(actor: Reader, db: DbDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> list[CaseSummary]:
    """Newest first, without victim data."""
    with db.read() as session:
        return service.list_cases(session, actor, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CasePublic, responses={404: {}})
def get_case(case_id: int, actor: Reader, db: DbDep) -> CasePublic:
    """The whole case including the victim's data (the read is written to the audit log)."""
    with db.write() as session:
        return service.get_case(session, actor, case_id)

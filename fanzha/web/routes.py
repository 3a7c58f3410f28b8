"""The console's pages: sign-in, dashboard, intake, cases, desk queue, orders, station board, numbers, audit.

Every action goes through the response service (``fanzha.response.service``) or the
number lists (``fanzha.numbers.lists``) exactly as the JSON API does, so scoping, audit
and lifecycle rules are the same whichever door a person uses. Forms post normally (they
work without JavaScript) and htmx upgrades them to in-place updates.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData

from fanzha.contracts.phones import normalize_number
from fanzha.contracts.vocab import AgeBand, Channel, Typology
from fanzha.numbers import lists
from fanzha.response import returns, service
from fanzha.response.service import (
    AUDIT_READERS,
    CASE_READERS,
    INTAKE_ROLES,
    ORDER_READERS,
    QUEUE_ROLES,
)
from fanzha.sim.geography import BANKS, PLATFORMS
from fanzha.store.audit import Actor, audit
from fanzha.store.models import (
    ListDecision,
    ListKind,
    NumberListEntry,
    Order,
    OrderStatus,
    Organisation,
    OrgKind,
)
from fanzha.store.types import utcnow
from fanzha.warning import store as warning_store
from fanzha.warning.dispatch import POLICY as WARNING_POLICY
from fanzha.warning.dispatch import Feedback
from fanzha.web import forms, queries
from fanzha.web import session as sess
from fanzha.web.app import (
    DASHBOARD_ROLES,
    HOME,
    NUMBER_REVIEWERS,
    STATION_ROLES,
    LoginRequired,
    PageError,
    console,
    current_user,
    finish,
    is_htmx,
    live,
    reading,
    render,
    require_role,
    rotate_nonce,
    versioned,
    writing,
)
from fanzha.web.i18n import LANGS

router = APIRouter(include_in_schema=False)

User = Annotated[sess.ConsoleUser, Depends(current_user)]


async def checked_form(request: Request) -> FormData:
    """The posted form, refused (403) unless its CSRF token and origin are right."""
    form = await request.form()
    submitted = request.headers.get(sess.CSRF_HEADER) or str(form.get(sess.CSRF_FIELD) or "")
    if not sess.same_origin(request) or not sess.csrf_ok(request, submitted, console(request).settings):
        raise PageError(403, "error.csrf")
    return form


Form = Annotated[FormData, Depends(checked_form)]


def _redirect(request: Request, url: str, user: sess.ConsoleUser | None = None) -> Response:
    """303 for a plain form post; for htmx an ``HX-Redirect`` (a 303 would be followed inside the fragment)."""
    if is_htmx(request):
        return finish(request, Response(status_code=204, headers={"HX-Redirect": url}), user)
    return finish(request, RedirectResponse(url, status_code=303), user)


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _service_error(exc: service.ServiceError) -> PageError:
    if isinstance(exc, service.NotFound):
        return PageError(404, "error.not_found", str(exc))
    if isinstance(exc, service.Forbidden):
        return PageError(403, "error.forbidden", str(exc))
    if isinstance(exc, service.Conflict):
        return PageError(409, "error.conflict", str(exc))
    return PageError(400, "error.invalid", str(exc))


# --------------------------------------------------------------------------- sign-in


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, None, "login.html", next=_safe_next(next) or "", error=None)


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    c = console(request)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    nxt = _safe_next(str(form.get("next") or ""))
    ip = request.client.host if request.client else "unknown"
    allowed, _wait = c.limiter.allow(username, ip)
    if not allowed:
        return render(request, None, "login.html", status=429, next=nxt or "", error="login.too_many",
                      username=username)
    with c.db.write() as session:
        user = service.authenticate(session, username, password) if username and password else None
        who = service.actor_of(user) if user else Actor(username=username[:64] or "?")
        audit(session, who, "login" if user else "login_failed", "user", user.id if user else None,
              details={"ip": ip, "via": "console"})
    if user is None:
        return render(request, None, "login.html", status=401, next=nxt or "", error="login.failed",
                      username=username)
    response = RedirectResponse(nxt or HOME.get(user.role, "/cases"), status_code=303)
    rotate_nonce(request)
    sess.set_session(response, request, user.id, c.settings)
    return finish(request, response, None)


@router.post("/logout")
def logout(request: Request, form: Form) -> Response:
    del form
    c = console(request)
    with c.db.read() as session:
        user = sess.load_user(request, session, c.settings)
    if user is not None:
        with c.db.write() as session:
            audit(session, user.actor, "logout", "user", user.actor.user_id, details={"via": "console"})
    response = RedirectResponse("/login", status_code=303)
    sess.clear_session(response)
    rotate_nonce(request)
    return finish(request, response, None)


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str | None = None) -> Response:
    """A preference, not a state change of the platform: a GET link is fine (no CSRF needed)."""
    response = RedirectResponse(_safe_next(next) or "/", status_code=303)
    if code in LANGS:
        sess.set_language(response, request, code)
    return response


@router.get("/")
def home(request: Request, user: User) -> Response:
    return _redirect(request, HOME.get(user.role, "/cases"), user)


# --------------------------------------------------------------------------- dashboard


def _period(value: str | None) -> queries.Period:
    try:
        return queries.Period(value or "day")
    except ValueError:
        return queries.Period.DAY


def _dashboard_data(request: Request, period: queries.Period) -> dict[str, Any]:
    c = console(request)
    now = utcnow()
    ws = queries.windows(period, now, c.tz)
    with reading(request) as session:
        return {
            "period": period.value,
            "metrics": queries.metrics(session, period, now, c.tz),
            "open_orders": queries.open_orders(session),
            "trend": queries.trend(session, now, c.tz),
            "tts": queries.time_to_stop(session, ws.current),
            "areas": queries.by_area(session, ws.current),
            "ticker": queries.ticker(session),
            "warnings": queries.warnings(session),
        }


@router.get("/dashboard")
def dashboard(request: Request, user: User, period: str | None = None) -> Response:
    require_role(user, DASHBOARD_ROLES)
    data = _dashboard_data(request, _period(period))
    inner_html, version = live(request, user, "_dashboard_inner.html", **data)
    return render(request, user, "dashboard.html", inner_html=inner_html, version=version, **data)


@router.get("/dashboard/live")
def dashboard_live(request: Request, user: User, period: str | None = None, v: str | None = None) -> Response:
    require_role(user, DASHBOARD_ROLES)
    data = _dashboard_data(request, _period(period))
    return versioned(request, user, "_dashboard_inner.html", "_dashboard_live.html", v, **data)


# --------------------------------------------------------------------------- intake


def _orgs(kind: OrgKind) -> list[tuple[str, str]]:
    return [(code, name) for code, name in {OrgKind.BANK: BANKS, OrgKind.PAYMENT_PLATFORM: PLATFORMS}.get(kind, ())]


def _intake_context(request: Request) -> dict[str, Any]:
    with reading(request) as session:
        stations = session.execute(
            select(Organisation.code, Organisation.name)
            .where(Organisation.kind == OrgKind.POLICE_UNIT, Organisation.active.is_(True))
            .order_by(Organisation.code)
        ).tuples().all()
        banks = session.execute(
            select(Organisation.code, Organisation.name)
            .where(Organisation.kind == OrgKind.BANK, Organisation.active.is_(True))
            .order_by(Organisation.code)
        ).tuples().all()
        platforms = session.execute(
            select(Organisation.code, Organisation.name)
            .where(Organisation.kind == OrgKind.PAYMENT_PLATFORM, Organisation.active.is_(True))
            .order_by(Organisation.code)
        ).tuples().all()
    return {
        "stations": list(stations), "banks": list(banks), "platforms": list(platforms),
        "typologies": [t.value for t in Typology], "age_bands": [a.value for a in AgeBand],
        "channels": [ch.value for ch in Channel], "rows": range(forms.TRANSFER_ROWS),
    }


@router.get("/intake")
def intake_form(request: Request, user: User) -> Response:
    require_role(user, INTAKE_ROLES)
    return render(request, user, "intake.html", values={"idempotency_key": uuid.uuid4().hex}, errors={},
                  **_intake_context(request))


@router.post("/intake")
def intake_submit(request: Request, user: User, form: Form) -> Response:
    require_role(user, INTAKE_ROLES)
    c = console(request)
    values = {k: str(v) for k, v in form.items() if k != sess.CSRF_FIELD}
    errors: dict[str, str] = {}
    try:
        report = forms.report_from_form(form, c.tz)
    except forms.FormError as exc:
        errors = exc.errors
    except ValidationError as exc:
        errors = forms.errors_by_field(exc)
    if errors:
        return render(request, user, "intake.html", status=422, values=values, errors=errors,
                      **_intake_context(request))
    try:
        result = service.submit_report_retrying(c.db.write, report, user.actor, home_city=c.settings.home_city,
                                                policy=getattr(request.app.state, "policy", None)
                                                or service.DEFAULT_POLICY)
    except service.InvalidInput as exc:
        errors = {forms.field_of(exc.loc): exc.message}
        return render(request, user, "intake.html", status=422, values=values, errors=errors,
                      **_intake_context(request))
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _redirect(request, f"/cases/{result.case.id}", user)


# --------------------------------------------------------------------------- cases


@router.get("/cases")
def cases(request: Request, user: User, page: int = 1) -> Response:
    require_role(user, CASE_READERS)
    page = max(page, 1)
    with reading(request) as session:
        items = service.list_cases(session, user.actor, limit=51, offset=(page - 1) * 50)
    return render(request, user, "cases.html", cases=items[:50], page=page, more=len(items) > 50)


@router.get("/cases/{case_id}")
def case_page(request: Request, user: User, case_id: int) -> Response:
    require_role(user, CASE_READERS)
    try:
        with writing(request) as session:  # reading a victim's data writes an audit row
            case = service.get_case(session, user.actor, case_id)
            trace = queries.money_trace(session, case_id)
            lines = returns.case_returns(session, user.actor, case_id)
            freezable = returns.freezable_orders(session, case_id) if user.role in returns.FREEZE_ROLES else set()
            progress = queries.follow_progress(session, case_id)
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    events = queries.timeline([(t.time, t.amount_cents, t.to_account) for t in case.transfers], case.reported_at,
                              case.orders)
    t = render_t(request)
    inner_html, version = live(request, user, "_case_progress_inner.html", progress=progress)
    return render(request, user, "case.html", case=case, trace=trace, events=events,
                  sankey=trace.echarts(t("trace.victim")), levels=trace.by_level(), returns=lines,
                  freezable=freezable, can_freeze=user.role in returns.FREEZE_ROLES,
                  can_return=user.role in returns.RETURN_ROLES, inner_html=inner_html, version=version,
                  case_id=case_id)


@router.get("/cases/{case_id}/progress")
def case_progress(request: Request, user: User, case_id: int, v: str | None = None) -> Response:
    """The money-following loop's progress, polled by the case page (counts only: no audit row)."""
    require_role(user, CASE_READERS)
    try:
        with reading(request) as session:
            service.require_visible_case(session, user.actor, case_id)
            progress = queries.follow_progress(session, case_id)
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return versioned(request, user, "_case_progress_inner.html", "_case_progress_live.html", v, progress=progress,
                     case_id=case_id)


@router.post("/cases/{case_id}/orders/{order_id}/freeze")
def case_freeze(request: Request, user: User, form: Form, case_id: int, order_id: int) -> Response:
    """止付转冻结 from the case page."""
    require_role(user, returns.FREEZE_ROLES)
    try:
        with writing(request) as session:
            returns.freeze_stopped(session, user.actor, order_id)
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _redirect(request, f"/cases/{case_id}", user)


@router.post("/cases/{case_id}/returns")
def case_return_funds(request: Request, user: User, form: Form, case_id: int) -> Response:
    """资金返还 for the case and the cases whose money met it."""
    require_role(user, returns.RETURN_ROLES)
    try:
        with writing(request) as session:
            returns.return_frozen_money(session, user.actor, case_id)
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _redirect(request, f"/cases/{case_id}", user)


def render_t(request: Request) -> Any:
    from fanzha.web.i18n import translator

    return translator(sess.language(request))


# --------------------------------------------------------------------------- desk


_QUEUE_FILTERS: dict[str, tuple[OrderStatus, ...] | None] = {
    "open": queries.OPEN_STATUSES,
    "done": (OrderStatus.EXECUTED, OrderStatus.REJECTED, OrderStatus.EXPIRED),
    "all": None,
}


QUEUE_PAGE = 500  # cards on one desk page: open orders oldest first, done ones newest first


def _queue(request: Request, user: sess.ConsoleUser, which: str) -> list[Any]:
    statuses = _QUEUE_FILTERS.get(which, queries.OPEN_STATUSES)
    with reading(request) as session:
        return service.desk_orders(session, user.actor, limit=QUEUE_PAGE, statuses=statuses,
                                   newest_first=which == "done")


@router.get("/desk")
def desk(request: Request, user: User, show: str = "open") -> Response:
    require_role(user, QUEUE_ROLES)
    which = show if show in _QUEUE_FILTERS else "open"
    orders = _queue(request, user, which)
    inner_html, version = live(request, user, "_queue_inner.html", orders=orders, show=which, errors={},
                               error_for=None)
    return render(request, user, "desk.html", inner_html=inner_html, version=version, show=which)


@router.get("/desk/queue")
def desk_queue(request: Request, user: User, show: str = "open", v: str | None = None) -> Response:
    require_role(user, QUEUE_ROLES)
    which = show if show in _QUEUE_FILTERS else "open"
    return versioned(request, user, "_queue_inner.html", "_queue_live.html", v, orders=_queue(request, user, which),
                     show=which, errors={}, error_for=None)


def _card(request: Request, user: sess.ConsoleUser, order: Any, errors: dict[str, str] | None = None,
          status: int = 200, message: str | None = None, form: FormData | None = None) -> Response:
    """One order's card after an action (htmx swaps it in place), or the desk page without htmx."""
    if is_htmx(request):
        # htmx swaps only 2xx answers by default: an error card comes back as 200 with the messages in it.
        return render(request, user, "_order_card.html", o=order, errors=errors or {}, error_for=order.id,
                      message=message, posted=_posted(form))
    if errors or message:
        orders = _queue(request, user, "open")
        inner_html, version = live(request, user, "_queue_inner.html", orders=orders, show="open",
                                   errors=errors or {}, error_for=order.id, message=message, posted=_posted(form))
        return render(request, user, "desk.html", status=status, inner_html=inner_html, version=version,
                      show="open")
    return _redirect(request, "/desk", user)


def _posted(form: FormData | None) -> dict[str, str]:
    return {} if form is None else {k: str(v) for k, v in form.items() if k != sess.CSRF_FIELD}


def _public(request: Request, user: sess.ConsoleUser, order_id: int) -> Any:
    with reading(request) as session:
        order = session.scalars(
            select(Order).where(Order.id == order_id, Order.organisation_id == user.organisation_id)
        ).one_or_none()
        if order is None:
            raise PageError(404, "error.not_found")
        return service.order_public(order)


@router.post("/desk/orders/{order_id}/acknowledge")
def desk_acknowledge(request: Request, user: User, form: Form, order_id: int) -> Response:
    del form
    require_role(user, QUEUE_ROLES)
    policy = getattr(request.app.state, "policy", None) or service.DEFAULT_POLICY
    try:
        with writing(request) as session:
            done = service.acknowledge(session, user.actor, order_id, policy=policy)
    except service.Conflict as exc:
        return _card(request, user, _public(request, user, order_id), status=409, message=str(exc))
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _card(request, user, done)


@router.post("/desk/orders/{order_id}/execute")
def desk_execute(request: Request, user: User, form: Form, order_id: int) -> Response:
    require_role(user, QUEUE_ROLES)
    c = console(request)
    try:
        result = forms.execute_from_form(form, c.tz)
    except forms.FormError as exc:
        return _card(request, user, _public(request, user, order_id), errors=exc.errors, status=422, form=form)
    except ValidationError as exc:
        return _card(request, user, _public(request, user, order_id), errors=forms.execute_errors(exc), status=422,
                     form=form)
    try:
        with writing(request) as session:
            done = service.execute(session, user.actor, order_id, result)
    except service.InvalidInput as exc:
        name = {"amount_stopped_cents": "amount_stopped", "statement_rows": "statement"}.get(str(exc.loc[-1]),
                                                                                          str(exc.loc[-1]))
        return _card(request, user, _public(request, user, order_id), errors={name: exc.message}, status=422,
                     form=form)
    except service.Conflict as exc:
        return _card(request, user, _public(request, user, order_id), status=409, message=str(exc))
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _card(request, user, done)


@router.post("/desk/orders/{order_id}/reject")
def desk_reject(request: Request, user: User, form: Form, order_id: int) -> Response:
    require_role(user, QUEUE_ROLES)
    reason = str(form.get("reason") or "").strip()
    if not reason:
        return _card(request, user, _public(request, user, order_id), errors={"reason": "field.required"}, status=422,
                     form=form)
    try:
        with writing(request) as session:
            done = service.reject(session, user.actor, order_id, reason[:2000])
    except service.Conflict as exc:
        return _card(request, user, _public(request, user, order_id), status=409, message=str(exc))
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _card(request, user, done)


@router.get("/orders/{order_id}")
def order_page(request: Request, user: User, order_id: int) -> Response:
    require_role(user, ORDER_READERS)
    try:
        with writing(request) as session:  # a read of a holder or a statement is audited
            order = service.get_order(session, user.actor, order_id)
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return render(request, user, "order.html", o=order, can_act=user.role in QUEUE_ROLES
                  and order.addressee == user.organisation_code, errors={}, error_for=None)


# --------------------------------------------------------------------------- station board


@router.get("/station")
def station(request: Request, user: User) -> Response:
    require_role(user, STATION_ROLES)
    with reading(request) as session:
        recent = service.list_cases(session, user.actor, limit=20)
    with writing(request) as session:  # people's numbers: the read is audited
        warnings = warning_store.station_queue(session, user.actor, limit=500)
    policy = [(grade, channel.value, minutes) for grade, (channel, minutes) in
              sorted(WARNING_POLICY.items(), key=lambda kv: -int(kv[0]))]
    t = render_t(request)
    options = [(f.value, t(f"feedback.{f.value}")) for f in Feedback]
    return render(request, user, "station.html", recent=recent, policy=policy, warnings=warnings,
                  feedback_options=options, now=utcnow())


@router.post("/station/warnings/{warning_id}/feedback")
def station_feedback(request: Request, user: User, form: Form, warning_id: int) -> Response:
    require_role(user, STATION_ROLES)
    note = str(form.get("note") or "").strip()[:2000]
    try:
        with writing(request) as session:
            warning_store.give_feedback(session, user.actor, warning_id, str(form.get("state") or ""), note or None)
    except service.ServiceError as exc:
        raise _service_error(exc) from None
    return _redirect(request, "/station", user)


# --------------------------------------------------------------------------- numbers


def _numbers_context(request: Request) -> dict[str, Any]:
    with reading(request) as session:
        pending = lists.review_queue(session, limit=200)
        white = list(session.scalars(
            select(NumberListEntry).where(NumberListEntry.list_kind == ListKind.WHITE,
                                          NumberListEntry.decision.in_(lists.ACTIVE))
            .order_by(NumberListEntry.id.desc()).limit(200)
        ))
        decided = list(session.scalars(
            select(NumberListEntry).where(NumberListEntry.list_kind == ListKind.BLACK,
                                          NumberListEntry.decision != ListDecision.PENDING_REVIEW)
            .order_by(NumberListEntry.decided_at.desc(), NumberListEntry.id.desc()).limit(30)
        ))
    return {"pending": pending, "white": white, "decided": decided}


@router.get("/numbers")
def numbers(request: Request, user: User) -> Response:
    require_role(user, NUMBER_REVIEWERS)
    return render(request, user, "numbers.html", errors={}, message=None, **_numbers_context(request))


@router.post("/numbers/{entry_id}/review")
def number_review(request: Request, user: User, form: Form, entry_id: int) -> Response:
    require_role(user, NUMBER_REVIEWERS)
    decision = str(form.get("decision") or "")
    if decision not in ("confirm", "reject"):
        raise PageError(400, "error.invalid", "decision must be confirm or reject")
    try:
        with writing(request) as session:
            lists.review(session, entry_id, decision == "confirm", user.actor, str(form.get("reason") or "")[:500])
    except lists.ListError as exc:
        return render(request, user, "numbers.html", status=409, errors={}, message=str(exc),
                      **_numbers_context(request))
    return _redirect(request, "/numbers", user)


@router.post("/numbers/whitelist")
def number_protect(request: Request, user: User, form: Form) -> Response:
    require_role(user, NUMBER_REVIEWERS)
    c = console(request)
    raw = str(form.get("number") or "").strip()
    owner = str(form.get("owner") or "").strip()
    errors = {}
    number = normalize_number(raw, c.settings.default_region) if raw else None
    if number is None:
        errors["number"] = "number.invalid"
    if not owner:
        errors["owner"] = "field.required"
    if errors:
        return render(request, user, "numbers.html", status=422, errors=errors, message=None,
                      values={"number": raw, "owner": owner}, **_numbers_context(request))
    assert number is not None
    with writing(request) as session:
        lists.protect(session, number, owner[:200], user.actor)
    return _redirect(request, "/numbers", user)


# --------------------------------------------------------------------------- audit


@router.get("/audit")
def audit_log(request: Request, user: User, object_type: str | None = None, object_id: str | None = None,
              personal: str | None = None, limit: int = 200) -> Response:
    require_role(user, AUDIT_READERS)
    personal_data = {"yes": True, "no": False}.get(personal or "")
    limit = min(max(limit, 1), 1000)
    with reading(request) as session:
        rows = service.read_audit(session, user.actor, object_type=object_type or None,
                                  object_id=object_id or None, personal_data=personal_data, limit=limit)
        names = dict(session.execute(select(Organisation.id, Organisation.code)).tuples().all())
    return render(request, user, "audit.html", rows=rows, orgs=names,
                  filters={"object_type": object_type or "", "object_id": object_id or "",
                           "personal": personal or "", "limit": limit})


# --------------------------------------------------------------------------- helpers used by templates


def login_redirect(request: Request) -> Response:
    """Where an unauthenticated request goes: the sign-in form, remembering the page."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    url = "/login?next=" + quote(target if not is_htmx(request) else "/", safe="")
    if is_htmx(request):
        return finish(request, Response(status_code=204, headers={"HX-Redirect": url}), None)
    return finish(request, RedirectResponse(url, status_code=303), None)


def page_error(request: Request, exc: PageError) -> Response:
    c = console(request)
    with c.db.read() as session:
        user = sess.load_user(request, session, c.settings)
    return render(request, user, "error.html", status=exc.status, message_key=exc.message_key, detail=exc.detail)


__all__ = ["LoginRequired", "PageError", "login_redirect", "page_error", "router"]


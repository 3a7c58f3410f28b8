"""Sign-in (OAuth2 password flow) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from fanzha.api.core.security import LoginLimiter, create_access_token
from fanzha.api.deps import ActorDep, DbDep, SettingsDep
from fanzha.response.schemas import UserPublic
from fanzha.response.service import actor_of, authenticate
from fanzha.store.audit import Actor, audit
from fanzha.store.models import Organisation

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post("/token", response_model=Token, responses={401: {}, 429: {"description": "Too many login attempts"}})
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DbDep,
          settings: SettingsDep) -> Token:
    """Exchange username and password for a short-lived bearer token (rate-limited per username+IP)."""
    limiter: LoginLimiter = request.app.state.login_limiter
    ip = request.client.host if request.client else "unknown"
    allowed, wait = limiter.allow(form.username, ip)
    if not allowed:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many login attempts; try again later",
                            headers={"Retry-After": str(max(1, round(wait)))})
    with db.write() as session:
        user = authenticate(session, form.username, form.password)
        who = actor_of(user) if user else Actor(username=form.username[:64])
        audit(session, who, "login" if user else "login_failed", "user", user.id if user else None,
              details={"ip": ip})
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    token, lifetime = create_access_token(user.id, settings)
    return Token(access_token=token, expires_in=lifetime)


@router.get("/me", response_model=UserPublic)
def me(actor: ActorDep, db: DbDep) -> UserPublic:
    with db.read() as session:
        org = session.get(Organisation, actor.organisation_id)
        assert org is not None and actor.user_id is not None and actor.role is not None
        return UserPublic(id=actor.user_id, username=actor.username, role=actor.role, organisation=org.code,
                          organisation_kind=org.kind)

"""The gateway's own endpoints: staff login, "who am I", password change and (admin) staff accounts; everything else
under /api/v1 is proxied."""

from __future__ import annotations

import unicodedata
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from gateway.auth import issue_staff_token, login, set_active, set_password
from gateway.models import StaffAccount
from gateway.policy import forbidden
from services.errors import Problem
from services.identity import Citizen, Identity, Role
from services.input_limits import InputLimits, loads

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")
    role: Role
    unit: str | None


class WhoAmI(BaseModel):
    subject: str
    role: Role
    unit: str | None
    scopes: list[str]
    citizen: Citizen | None


_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Staff login: a short-lived access token carrying role and unit",
    openapi_extra=_LOGIN_BODY,
    responses={401: {"description": "wrong username or password"}, 429: {"description": "too many attempts"}},
)
async def token(request: Request) -> TokenResponse:
    gateway = request.app.state.gateway
    ip = request.client.host if request.client else ""
    await gateway.limits.login_attempt(ip)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = await request.form()
            data: Any = {k: v for k, v in form.items() if k in ("username", "password")}
        elif content_type == "application/json":
            data = loads(await request.body(), InputLimits.from_settings(gateway.settings))
        else:
            raise Problem(415, "Send the credentials as JSON or as a form.", code="unsupported-media-type")
        creds = LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise Problem(422, "username and password are required.", code="validation-error",
                      errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]) from exc
    except ValueError as exc:
        raise Problem(400, "The body is not valid JSON.", code="bad-request") from exc
    username = unicodedata.normalize("NFC", creds.username.strip())
    db = request.app.state.db
    # The attempt is recorded even when the password is wrong: commit in both cases.
    async with db.sessionmaker() as session:
        try:
            account = await login(session, gateway.settings, username=username, password=creds.password, ip=ip)
        finally:
            await session.commit()
    access, ttl = issue_staff_token(account, gateway.settings)
    return TokenResponse(access_token=access, expires_in=ttl, role=Role(account.role), unit=account.unit)


@router.get("/whoami", response_model=WhoAmI, summary="The identity the gateway forwards for these credentials")
async def whoami(request: Request) -> WhoAmI:
    who = await request.app.state.gateway.authenticate(request.headers, request.client.host if request.client else "")
    return WhoAmI(subject=who.subject, role=who.role, unit=who.unit, scopes=sorted(who.scopes), citizen=who.citizen)


# --- staff sessions and accounts ------------------------------------------------------------------------------------


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024, description="at least 12 characters")


class StaffAccountView(BaseModel):
    username: str
    role: Role
    unit: str | None
    active: bool


async def _staff_caller(request: Request) -> Identity:
    who: Identity = await request.app.state.gateway.authenticate(
        request.headers, request.client.host if request.client else ""
    )
    if not who.is_staff:
        raise forbidden("Only staff accounts have a password here.", "staff-only")
    return who


def _account_id(who: Identity) -> int:
    return int(who.subject.removeprefix("staff:"))


@router.post(
    "/password",
    status_code=204,
    summary="Staff: change one's own password; every session (access token) issued before ends",
    responses={401: {"description": "wrong current password"}, 429: {"description": "too many attempts"}},
)
async def change_password(body: PasswordChange, request: Request) -> Response:
    gateway = request.app.state.gateway
    who = await _staff_caller(request)
    ip = request.client.host if request.client else ""
    async with request.app.state.db.sessionmaker() as session:
        account = await session.get(StaffAccount, _account_id(who))
        if account is None:
            raise Problem(404, "The account of this access token is gone.", code="not-found")
        # The current password is checked like a login: failures count against the account's and address's limits.
        try:
            await login(session, gateway.settings, username=account.username, password=body.current_password, ip=ip)
        except Problem:
            await session.commit()
            raise
        await set_password(session, account, body.new_password)
        await session.commit()
    gateway.staff.accounts.forget(account.id)
    return Response(status_code=204)


async def _set_active(request: Request, username: str, active: bool) -> StaffAccountView:
    gateway = request.app.state.gateway
    who = await _staff_caller(request)
    if who.role != Role.ADMIN:
        raise forbidden("Only an administrator manages staff accounts.", "admin-only")
    username = unicodedata.normalize("NFC", username.strip())
    async with request.app.state.db.sessionmaker() as session:
        account = (
            await session.execute(select(StaffAccount).where(StaffAccount.username == username))
        ).scalar_one_or_none()
        if account is None:
            raise Problem(404, f"There is no staff account {username!r}.", code="not-found", username=username)
        if not active and account.id == _account_id(who):
            raise Problem(409, "Administrators cannot deactivate their own account.", code="own-account")
        await set_active(session, account, active)
        view = StaffAccountView(username=account.username, role=Role(account.role), unit=account.unit, active=active)
        await session.commit()
    gateway.staff.accounts.forget(account.id)
    return view


@router.post(
    "/staff/{username}/deactivate",
    response_model=StaffAccountView,
    summary="Admin: deactivate a staff account; its logins are refused and its sessions end at once",
    responses={403: {"description": "not an administrator"}, 404: {"description": "no such account"},
               409: {"description": "one's own account"}},
)
async def deactivate_staff(username: str, request: Request) -> StaffAccountView:
    return await _set_active(request, username, False)


@router.post(
    "/staff/{username}/reactivate",
    response_model=StaffAccountView,
    summary="Admin: reactivate a staff account (it logs in again; sessions from before stay ended)",
    responses={403: {"description": "not an administrator"}, 404: {"description": "no such account"}},
)
async def reactivate_staff(username: str, request: Request) -> StaffAccountView:
    return await _set_active(request, username, True)

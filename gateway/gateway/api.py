"""The gateway's own endpoints: staff login and "who am I"; everything else under /api/v1 is proxied."""

from __future__ import annotations

import unicodedata
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from gateway.auth import issue_staff_token, login
from services.errors import Problem
from services.identity import Citizen, Role

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
            data = await request.json()
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

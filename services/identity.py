"""The verified identity of a caller, as the gateway passes it to the services.

The gateway authenticates every request (API key, staff JWT, wallet credentials) and forwards it with a short-lived
internal token in the ``X-Motcua-Identity`` header, signed (HS256) with the secret shared by the gateway and the
services. Services never trust a caller without it: `CurrentIdentity` verifies it on every request and
`require(...)` checks the role; jurisdiction (which unit's dossiers) is checked by each service against
`Identity.unit`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.errors import Problem

HEADER = "x-motcua-identity"
ISSUER = "motcua-gateway"
AUDIENCE = "motcua-services"
ALGORITHM = "HS256"


class Role(StrEnum):
    DESK_OFFICER = "desk_officer"  # cán bộ một cửa at a ward/commune desk or the centre
    SPECIALIST = "specialist"  # chuyên viên of an agency who processes dossiers
    LEADER = "leader"  # lãnh đạo: reads reports of their unit subtree, approves
    ADMIN = "admin"  # administrator: catalogue, units, calendar, accounts
    PORTAL = "portal"  # the provincial public service portal (a system), may act for a citizen
    WALLET = "wallet"  # a payment wallet / bank gateway (a system): webhooks only
    INTEGRATION = "integration"  # other systems with scoped API keys


STAFF_ROLES = frozenset({Role.DESK_OFFICER, Role.SPECIALIST, Role.LEADER, Role.ADMIN})


class Citizen(BaseModel):
    """The citizen the portal acts for (only the portal's key may pass one)."""

    model_config = ConfigDict(frozen=True)

    id_number: str = Field(description="12-digit citizen id (CCCD) or tax code of an organisation")
    account_id: str | None = Field(default=None, description="public-service account id")
    name: str | None = None


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="staff account id or API key id")
    role: Role
    unit: str | None = Field(default=None, description="agency id of the staff member's unit")
    scopes: frozenset[str] = frozenset()
    citizen: Citizen | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


def mint(identity: Identity, secret: str, *, ttl: int = 60) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "sub": identity.subject,
        "role": identity.role.value,
        "unit": identity.unit,
        "scopes": sorted(identity.scopes),
    }
    if identity.citizen is not None:
        claims["citizen"] = identity.citizen.model_dump(exclude_none=True)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(token: str, secret: str, previous: str | None = None) -> Identity:
    try:
        identity, expires = with_previous_secret(_verified, token, secret, previous)
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise Problem(401, f"The internal identity token is not valid: {exc}", code="invalid-identity") from exc
    if expired(expires):
        raise Problem(401, "The internal identity token is not valid: Signature has expired", code="invalid-identity")
    return identity


T = TypeVar("T")


def with_previous_secret(decode: Callable[[str, str], T], token: str, secret: str, previous: str | None) -> T:
    """During a rotation of `secret`, a token whose signature fails with it is tried with the previous one, so that
    the signers and the verifiers need not switch at the same instant."""
    try:
        return decode(token, secret)
    except jwt.InvalidSignatureError:
        if not previous:
            raise
        return decode(token, previous)


#: Tokens verified lately and when each expires. The gateway reuses a token for half its lifetime and a caller's
#: requests follow one another, so most tokens come back: checking a signature and decoding the claims again cost
#: a few per cent of every service's CPU. A token that failed is not kept; the expiry is checked on every use.
VERIFIED_TOKENS = 4096


def expired(expires: int) -> bool:
    return expires <= time.time()  # as PyJWT decides it (no leeway)


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(token: str, secret: str) -> tuple[Identity, int]:
    claims = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    identity = Identity(
        subject=claims["sub"],
        role=Role(claims["role"]),
        unit=claims.get("unit"),
        scopes=frozenset(claims.get("scopes") or ()),
        citizen=Citizen(**claims["citizen"]) if claims.get("citizen") else None,
    )
    return identity, int(claims["exp"])


async def identity_from_request(request: Request) -> Identity:
    token = request.headers.get(HEADER)
    if not token:
        raise Problem(401, "This service is reached through the gateway only.", code="missing-identity")
    settings = request.app.state.settings
    previous = settings.internal_token_secret_previous
    return verify(
        token, settings.internal_token_secret.get_secret_value(), previous.get_secret_value() if previous else None
    )


CurrentIdentity = Annotated[Identity, Depends(identity_from_request)]


def require(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Identity]]:
    """A dependency that lets only the given roles through: ``who: Identity = Depends(require(Role.ADMIN))``."""

    async def check(request: Request) -> Identity:
        identity = await identity_from_request(request)
        if identity.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Problem(403, f"Role {identity.role.value} may not do this (allowed: {allowed}).", code="forbidden")
        return identity

    check.roles = frozenset(roles)  # type: ignore[attr-defined]  # read by tests/authz: the table's rows agree
    return check

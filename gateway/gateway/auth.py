"""Who is calling: API keys of systems, staff passwords and access tokens, the citizen the portal acts for.

API keys look like ``mck_<prefix>_<secret>``: the 10-character prefix is public and finds the row; the 256-bit
random secret is stored only as HMAC-SHA256(pepper, prefix.secret). A slow password hash (argon2) protects
low-entropy secrets chosen by people; a 256-bit random key cannot be guessed offline, so a keyed fast hash is as safe
and keeps verification in microseconds on every request, while a stolen database alone (without the pepper from the
environment) cannot even confirm a key. Passwords of staff use argon2 (pwdlib's recommended parameters).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import jwt
from pwdlib import PasswordHash
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.models import ApiKey, LoginAttempt, StaffAccount
from gateway.settings import Settings
from services.errors import Problem
from services.identity import (
    STAFF_ROLES,
    VERIFIED_TOKENS,
    Citizen,
    Identity,
    Role,
    expired,
    with_previous_secret,
)

KEY_PREFIX = "mck"
STAFF_ISSUER = "motcua-gateway"
STAFF_AUDIENCE = "motcua-staff"
_PREFIX_RE = re.compile(r"^[a-z0-9]{4,16}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
CITIZEN_ID_RE = re.compile(r"^(\d{12}|\d{9}|\d{10}|\d{13}|\d{10}-\d{3})$")

password_hash = PasswordHash.recommended()
#: Verified against when the username does not exist, so that a missing account takes as long as a wrong password.
_DUMMY_HASH = password_hash.hash("motcua-dummy-password")

#: Scopes an API key gets when none are given, by role; the role matrix in policy.py is the ceiling.
DEFAULT_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.PORTAL: ("catalogue:read", "dossiers:read", "dossiers:write", "payments:read", "payments:write"),
    Role.WALLET: ("payments:webhooks",),
    Role.INTEGRATION: ("catalogue:read",),
}
SYSTEM_ROLES = frozenset(DEFAULT_SCOPES)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite gives naive datetimes back
        return value.replace(tzinfo=UTC)
    return value


def unauthorized(detail: str, code: str = "unauthorized") -> Problem:
    return Problem(401, detail, code=code, headers={"WWW-Authenticate": 'Bearer realm="motcua"'})


# --- API keys -----------------------------------------------------------------------------------------------------


def hash_key(pepper: str, prefix: str, secret: str) -> str:
    return hmac.new(pepper.encode(), f"{prefix}.{secret}".encode(), hashlib.sha256).hexdigest()


def new_key_material(prefix: str | None = None, secret: str | None = None) -> tuple[str, str, str]:
    """(prefix, secret, full key)."""
    prefix = prefix or base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]
    secret = secret or secrets.token_urlsafe(32)
    return prefix, secret, f"{KEY_PREFIX}_{prefix}_{secret}"


def parse_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _PREFIX_RE.match(parts[1]) or not _SECRET_RE.match(parts[2]):
        return None
    return parts[1], parts[2]


@dataclass(frozen=True)
class KeyRecord:
    prefix: str
    key_hash: str
    client: str
    role: Role
    scopes: frozenset[str]
    unit: str | None
    expires_at: datetime | None
    revoked: bool
    #: What a request with this key is forwarded as (built once per load, not per request).
    identity: Identity


class ApiKeyVerifier:
    """Verifies API keys with a short in-memory cache of the rows (a revocation reaches it within the TTL)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.pepper = settings.api_key_pepper.get_secret_value()
        self.ttl = settings.api_key_cache_seconds
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        #: Lookups under way: concurrent requests with the same key share one query when the cache entry expires.
        self._loading: dict[str, asyncio.Future[KeyRecord | None]] = {}

    async def _record(self, prefix: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(prefix)
        if cached is not None and cached[0] > now:
            return cached[1]
        loading = self._loading.get(prefix)
        if loading is None:
            loading = self._loading[prefix] = asyncio.ensure_future(self._load(prefix, now))
            loading.add_done_callback(lambda done: self._loaded(prefix, done))
        return await asyncio.shield(loading)  # a cancelled request does not cancel the others' lookup

    def _loaded(self, prefix: str, done: asyncio.Future[KeyRecord | None]) -> None:
        if self._loading.get(prefix) is done:
            del self._loading[prefix]
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every waiter has gone

    async def _load(self, prefix: str, now: float) -> KeyRecord | None:
        async with self.sessionmaker() as session:
            row = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()
        record = None
        if row is not None:
            role, scopes = Role(row.role), frozenset(row.scopes or ())
            record = KeyRecord(
                prefix=row.prefix,
                key_hash=row.key_hash,
                client=row.client,
                role=role,
                scopes=scopes,
                unit=row.unit,
                expires_at=_aware(row.expires_at),
                revoked=row.revoked_at is not None,
                identity=Identity(subject=f"apikey:{row.client}/{row.prefix}", role=role, unit=row.unit, scopes=scopes),
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[prefix] = (now + self.ttl, record)
        return record

    async def verify(self, key: str) -> Identity:
        parsed = parse_key(key)
        if parsed is None:
            raise unauthorized("The API key is malformed.", "invalid-api-key")
        prefix, secret = parsed
        record = await self._record(prefix)
        # Compare against something even when the prefix is unknown, so timing does not tell prefixes apart.
        expected = record.key_hash if record is not None else "0" * 64
        if not hmac.compare_digest(expected, hash_key(self.pepper, prefix, secret)) or record is None:
            raise unauthorized("The API key is not valid.", "invalid-api-key")
        if record.revoked:
            raise unauthorized("The API key has been revoked.", "revoked-api-key")
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise unauthorized("The API key has expired.", "expired-api-key")
        return record.identity


async def create_api_key(
    session: AsyncSession,
    settings: Settings,
    *,
    client: str,
    role: Role,
    scopes: list[str] | None = None,
    unit: str | None = None,
    expires_at: datetime | None = None,
    prefix: str | None = None,
    secret: str | None = None,
) -> str:
    """Adds a key for `client` and returns it in full (the only time it is ever visible)."""
    if role not in SYSTEM_ROLES:
        raise ValueError(f"API keys are for systems ({', '.join(sorted(SYSTEM_ROLES))}), not {role}")
    prefix, secret, key = new_key_material(prefix, secret)
    session.add(
        ApiKey(
            prefix=prefix,
            key_hash=hash_key(settings.api_key_pepper.get_secret_value(), prefix, secret),
            client=client,
            role=role.value,
            scopes=sorted(scopes if scopes is not None else DEFAULT_SCOPES[role]),
            unit=unit,
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    await session.flush()
    return key


async def rotate_api_key(session: AsyncSession, settings: Settings, *, client: str, grace: timedelta) -> str:
    """A new key for `client` with the newest active key's role, scopes and unit; the old keys expire after
    `grace` (they keep working meanwhile, so the client can switch without downtime)."""
    now = utcnow()
    active = [
        k
        for k in (await session.execute(select(ApiKey).where(ApiKey.client == client))).scalars()
        if k.revoked_at is None and (_aware(k.expires_at) is None or _aware(k.expires_at) > now)  # type: ignore[operator]
    ]
    if not active:
        raise LookupError(f"client {client!r} has no active key to rotate")
    newest = max(active, key=lambda k: k.id)
    for k in active:
        deadline = now + grace
        if k.expires_at is None or _aware(k.expires_at) > deadline:  # type: ignore[operator]
            k.expires_at = deadline
    return await create_api_key(
        session, settings, client=client, role=Role(newest.role), scopes=list(newest.scopes), unit=newest.unit
    )


async def revoke_api_keys(session: AsyncSession, *, prefix: str | None = None, client: str | None = None) -> int:
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if prefix:
        query = query.where(ApiKey.prefix == prefix)
    elif client:
        query = query.where(ApiKey.client == client)
    else:
        raise ValueError("give a prefix or a client")
    count = 0
    for key in (await session.execute(query)).scalars():
        key.revoked_at = utcnow()
        count += 1
    return count


# --- staff accounts and access tokens -----------------------------------------------------------------------------


async def create_staff(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    unit: str | None,
    full_name: str | None = None,
) -> StaffAccount:
    if role not in STAFF_ROLES:
        raise ValueError(f"staff roles are {', '.join(sorted(STAFF_ROLES))}")
    if role != Role.ADMIN and not unit:
        raise ValueError("staff other than administrators belong to a unit (agency id)")
    account = StaffAccount(
        username=username,
        password_hash=await asyncio.to_thread(password_hash.hash, password),
        role=role.value,
        unit=unit,
        full_name=full_name,
        active=True,
        created_at=utcnow(),
    )
    session.add(account)
    await session.flush()
    return account


def issue_staff_token(account: StaffAccount, settings: Settings) -> tuple[str, int]:
    now = int(time.time())
    ttl = settings.jwt_ttl_seconds
    claims: dict[str, Any] = {
        "iss": STAFF_ISSUER,
        "aud": STAFF_AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "sub": str(account.id),
        "jti": uuid.uuid4().hex,
        "role": account.role,
        "unit": account.unit,
        "name": account.username,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256"), ttl


def verify_staff_token(token: str, settings: Settings) -> Identity:
    """A staff access token's identity. A token verified before is not decoded again (see `VERIFIED_TOKENS`)."""
    try:
        previous = settings.jwt_secret_previous.get_secret_value() if settings.jwt_secret_previous else None
        identity, expires = with_previous_secret(
            _verified_staff_token, token, settings.jwt_secret.get_secret_value(), previous
        )
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized("The access token has expired; log in again.", "token-expired") from exc
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise unauthorized("The access token is not valid.", "invalid-token") from exc
    if identity is None:
        raise unauthorized("The access token is not valid.", "invalid-token")
    if expired(expires):
        raise unauthorized("The access token has expired; log in again.", "token-expired")
    return identity


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified_staff_token(token: str, secret: str) -> tuple[Identity | None, int]:
    """(the identity, or None for a well-signed token of a role that is not staff; the expiry)."""
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=STAFF_AUDIENCE,
        issuer=STAFF_ISSUER,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    role = Role(claims["role"])
    if role not in STAFF_ROLES:
        return None, int(claims["exp"])
    return Identity(subject=f"staff:{claims['sub']}", role=role, unit=claims.get("unit")), int(claims["exp"])


async def login(session: AsyncSession, settings: Settings, *, username: str, password: str, ip: str) -> StaffAccount:
    """Checks the password; too many recent failures for the account or the address give 429 with Retry-After."""
    now = utcnow()
    since = now - timedelta(seconds=settings.login_window_seconds)
    for column, value, limit in (
        (LoginAttempt.username, username, settings.login_max_failures),
        (LoginAttempt.ip, ip, settings.login_max_failures_per_ip),
    ):
        failures, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginAttempt.at)).where(
                    column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since
                )
            )
        ).one()
        if failures >= limit:
            oldest = _aware(oldest) or now
            wait = max(1, int((oldest + timedelta(seconds=settings.login_window_seconds) - now).total_seconds()) + 1)
            raise Problem(
                429,
                "Too many failed logins; try again later.",
                code="too-many-login-failures",
                headers={"Retry-After": str(wait)},
            )
    account = (
        await session.execute(select(StaffAccount).where(StaffAccount.username == username))
    ).scalar_one_or_none()
    stored = account.password_hash if account is not None else _DUMMY_HASH
    valid, new_hash = await asyncio.to_thread(password_hash.verify_and_update, password, stored)
    ok = bool(valid and account is not None and account.active)
    session.add(LoginAttempt(username=username[:64], ip=ip[:64], succeeded=ok, at=now))
    if not ok or account is None:
        raise unauthorized("Wrong username or password.", "invalid-credentials")
    if new_hash:
        account.password_hash = new_hash
    return account


# --- the citizen the portal acts for ------------------------------------------------------------------------------

CITIZEN_HEADERS = ("x-citizen-id", "x-citizen-account", "x-citizen-name")


def _header_text(value: str, name: str) -> str:
    """Header values are ASCII; Vietnamese names come percent-encoded UTF-8."""
    text = unquote(value, errors="strict")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or len(text) > 200:
        raise Problem(400, f"The {name} header holds characters that are not allowed.", code="bad-citizen-header")
    return text


def citizen_from_headers(headers: Mapping[str, str]) -> Citizen | None:
    if not any(h in headers for h in CITIZEN_HEADERS):
        return None
    id_number = headers.get("x-citizen-id", "").strip()
    if not CITIZEN_ID_RE.match(id_number):
        raise Problem(
            400,
            "X-Citizen-Id must be a 12-digit citizen id (or a legacy 9-digit id, or a 10/13-digit tax code).",
            code="bad-citizen-header",
        )
    account = headers.get("x-citizen-account")
    name = headers.get("x-citizen-name")
    try:
        return Citizen(
            id_number=id_number,
            account_id=_header_text(account, "X-Citizen-Account") if account else None,
            name=_header_text(name, "X-Citizen-Name") if name else None,
        )
    except UnicodeDecodeError as exc:
        raise Problem(400, "Citizen headers must be percent-encoded UTF-8.", code="bad-citizen-header") from exc

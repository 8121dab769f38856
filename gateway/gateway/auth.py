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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

import jwt
from pwdlib import PasswordHash
from sqlalchemy import func, select, update
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


K = TypeVar("K")
V = TypeVar("V")


class CachedRows(Generic[K, V]):
    """Rows looked up by key and kept for `ttl` seconds (a change made elsewhere reaches this replica within it).
    Concurrent requests for a key whose entry expired share one query."""

    def __init__(self, load: Callable[[K], Awaitable[V]], ttl: float) -> None:
        self.load = load
        self.ttl = ttl
        self._cache: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        #: Incremented by `forget`: a lookup that began before does not cache what it read.
        self._forgets = 0

    async def get(self, key: K) -> V:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._load(key, now))
            loading.add_done_callback(lambda done: self._loaded(key, done))
        return await asyncio.shield(loading)  # a cancelled request does not cancel the others' lookup

    def forget(self, key: K) -> None:
        """After a change made by this replica: its next request sees the change at once."""
        self._forgets += 1
        self._cache.pop(key, None)
        self._loading.pop(key, None)

    def _loaded(self, key: K, done: asyncio.Future[V]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every waiter has gone

    async def _load(self, key: K, now: float) -> V:
        forgets = self._forgets
        value = await self.load(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        if self.ttl > 0 and forgets == self._forgets:
            self._cache[key] = (now + self.ttl, value)
        return value


class ApiKeyVerifier:
    """Verifies API keys with a short in-memory cache of the rows (a revocation reaches it within the TTL)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.pepper = settings.api_key_pepper.get_secret_value()
        self.rows: CachedRows[str, KeyRecord | None] = CachedRows(self._load, settings.api_key_cache_seconds)

    async def _load(self, prefix: str) -> KeyRecord | None:
        async with self.sessionmaker() as session:
            row = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()
        if row is None:
            return None
        role, scopes = Role(row.role), frozenset(row.scopes or ())
        return KeyRecord(
            prefix=row.prefix,
            key_hash=row.key_hash,
            client=row.client,
            role=role,
            scopes=scopes,
            unit=row.unit,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            identity=Identity(subject=f"apikey:{row.client}/{row.prefix}", role=role, unit=row.unit, scopes=scopes),
        )

    async def verify(self, key: str) -> Identity:
        parsed = parse_key(key)
        if parsed is None:
            raise unauthorized("The API key is malformed.", "invalid-api-key")
        prefix, secret = parsed
        record = await self.rows.get(prefix)
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
        if k.revoked_at is None and (k.expires_at is None or k.expires_at > now)
    ]
    if not active:
        raise LookupError(f"client {client!r} has no active key to rotate")
    newest = max(active, key=lambda k: k.id)
    for k in active:
        deadline = now + grace
        if k.expires_at is None or k.expires_at > deadline:
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


async def set_password(session: AsyncSession, account: StaffAccount, password: str) -> None:
    """A new password ends every session (access token) issued before it."""
    account.password_hash = await asyncio.to_thread(password_hash.hash, password)
    account.password_changed_at = utcnow()
    await _end_sessions(session, account)


async def set_active(session: AsyncSession, account: StaffAccount, active: bool) -> None:
    """Deactivation refuses the account's logins and ends its sessions; reactivation allows logins again (the
    sessions from before stay ended)."""
    if account.active == active:
        return
    account.active = active
    account.deactivated_at = None if active else utcnow()
    if not active:
        await _end_sessions(session, account)


async def _end_sessions(session: AsyncSession, account: StaffAccount) -> None:
    # In SQL, so that two changes at the same time both count (a token issued between them is ended too).
    await session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == account.id)
        .values(token_generation=StaffAccount.token_generation + 1)
    )


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
        "gen": account.token_generation,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256"), ttl


@dataclass(frozen=True)
class StaffToken:
    """What a well-signed, unexpired staff access token says."""

    identity: Identity
    account_id: int
    #: The account's token generation when the token was issued (tokens from before generations: 0).
    generation: int


def verify_staff_token(token: str, settings: Settings) -> Identity:
    """The identity a staff access token claims (signature and expiry only; `StaffSessions` checks the account)."""
    return staff_token(token, settings).identity


def staff_token(token: str, settings: Settings) -> StaffToken:
    """A staff access token's claims. A token verified before is not decoded again (see `VERIFIED_TOKENS`)."""
    try:
        previous = settings.jwt_secret_previous.get_secret_value() if settings.jwt_secret_previous else None
        claimed, expires = with_previous_secret(
            _verified_staff_token, token, settings.jwt_secret.get_secret_value(), previous
        )
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized("The access token has expired; log in again.", "token-expired") from exc
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise unauthorized("The access token is not valid.", "invalid-token") from exc
    if claimed is None:
        raise unauthorized("The access token is not valid.", "invalid-token")
    if expired(expires):
        raise unauthorized("The access token has expired; log in again.", "token-expired")
    return claimed


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified_staff_token(token: str, secret: str) -> tuple[StaffToken | None, int]:
    """(the claims, or None for a well-signed token of a role that is not staff; the expiry)."""
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
    identity = Identity(subject=f"staff:{claims['sub']}", role=role, unit=claims.get("unit"))
    return StaffToken(identity, int(claims["sub"]), int(claims.get("gen", 0))), int(claims["exp"])


@dataclass(frozen=True)
class StaffRecord:
    active: bool
    generation: int
    #: What a request of this account is forwarded as: its role and unit now, not those at login.
    identity: Identity


class StaffSessions:
    """Checks every staff access token against its account: it exists, it is active, and the token was issued at its
    current token generation (not before a password change or a deactivation). Accounts are cached for
    `staff_account_cache_seconds`: a change made through this replica applies at once, one made through another
    replica or the command line within that time."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.accounts: CachedRows[int, StaffRecord | None] = CachedRows(
            self._load, settings.staff_account_cache_seconds
        )

    async def _load(self, account_id: int) -> StaffRecord | None:
        async with self.sessionmaker() as session:
            row = await session.get(StaffAccount, account_id)
        if row is None:
            return None
        identity = Identity(subject=f"staff:{row.id}", role=Role(row.role), unit=row.unit)
        return StaffRecord(active=row.active, generation=row.token_generation, identity=identity)

    async def verify(self, token: str) -> Identity:
        claimed = staff_token(token, self.settings)
        record = await self.accounts.get(claimed.account_id)
        if record is None:
            raise unauthorized("The access token names an account that does not exist.", "unknown-account")
        if not record.active:
            raise unauthorized("This staff account has been deactivated.", "account-deactivated")
        if claimed.generation != record.generation:
            raise unauthorized(
                "This access token was ended by a password change or a deactivation; log in again.", "token-revoked"
            )
        return record.identity


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
            oldest = oldest or now
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

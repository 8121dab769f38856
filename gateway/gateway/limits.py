"""Rate limits per client with the `limits` library: in memory for one replica, Redis (or Valkey, Memcached) through
GATEWAY_RATE_LIMIT_STORAGE_URI when several replicas must share the counters.

When the shared storage cannot be reached (refused, or no answer within `SHARED_TIMEOUT`), each replica limits on
its own in-memory counters and tries the shared storage again after `SHARED_RETRY` seconds: an outage of Redis
must not take the API down, and every client still has a budget (per replica) meanwhile.

The strategy is the sliding-window counter: two counters per client, whatever its limit, in every storage `limits`
offers. It approximates the rolling window by weighting the previous window's hits, so a burst split by a window's
edge may get one hit more than the limit; the exact moving window would keep one timestamp per hit (6,000 per portal
key) and has no Memcached storage."""

from __future__ import annotations

import asyncio
import math
import time

import structlog
from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from gateway.settings import Settings
from services.errors import Problem
from services.identity import Identity, Role

log = structlog.get_logger("gateway.limits")

MEMORY = "async+memory://"
#: Seconds a call to the shared storage may take before this replica falls back to its own counters.
SHARED_TIMEOUT = 0.5
#: Seconds before the shared storage is tried again after a failure.
SHARED_RETRY = 5.0


def async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.uri = async_uri(settings.rate_limit_storage_uri)
        self.shared = not self.uri.startswith(MEMORY)
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        self._local: SlidingWindowCounterRateLimiter | None = None
        self._shared_down_until = 0.0
        staff = parse(settings.rate_limit_staff)
        self.per_role: dict[Role, RateLimitItem] = {
            Role.DESK_OFFICER: staff,
            Role.SPECIALIST: staff,
            Role.LEADER: staff,
            Role.ADMIN: staff,
            Role.PORTAL: parse(settings.rate_limit_portal),
            Role.WALLET: parse(settings.rate_limit_wallet),
            Role.INTEGRATION: parse(settings.rate_limit_integration),
        }
        self.login = parse(settings.rate_limit_login)
        self.unauthenticated = parse(settings.rate_limit_unauthenticated)
        self.callbacks = parse(settings.rate_limit_callback)

    @property
    def limiter(self) -> SlidingWindowCounterRateLimiter:
        if self._limiter is None:  # created inside the running loop (the memory storage starts a timer task)
            self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(self.uri, wrap_exceptions=True))
        return self._limiter

    @property
    def local(self) -> SlidingWindowCounterRateLimiter:
        """This replica's own counters: the limiter itself with memory storage, the fallback with a shared one."""
        if not self.shared:
            return self.limiter
        if self._local is None:
            self._local = SlidingWindowCounterRateLimiter(storage_from_string(MEMORY))
        return self._local

    async def _hit(self, item: RateLimitItem, key: tuple[str, ...]) -> tuple[bool, SlidingWindowCounterRateLimiter]:
        if self.shared and time.monotonic() >= self._shared_down_until:
            try:
                async with asyncio.timeout(SHARED_TIMEOUT):
                    return await self.limiter.hit(item, *key), self.limiter
            except Exception as exc:  # whatever the shared storage's client raises, the API serves on
                self._shared_down_until = time.monotonic() + SHARED_RETRY
                log.warning("rate_limit_storage_unavailable", storage=self.uri.split("@")[-1], error=str(exc) or
                            type(exc).__name__, fallback="memory", retry_in_s=SHARED_RETRY)  # fmt: skip
        return await self.local.hit(item, *key), self.local

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        allowed, limiter = await self._hit(item, key)
        if allowed:
            return
        try:
            async with asyncio.timeout(SHARED_TIMEOUT):
                stats = await limiter.get_window_stats(item, *key)
            retry = max(1, math.ceil(stats.reset_time - time.time()))
        except (StorageError, TimeoutError):
            retry = 1
        raise Problem(
            429,
            f"Rate limit of {item} exceeded; retry in {retry} s.",
            code="rate-limited",
            headers={"Retry-After": str(retry)},
        )

    async def client(self, who: Identity) -> None:
        """One budget per client: the API key's client, or the staff account."""
        await self.hit(self.per_role[who.role], "client", who.subject.split("/")[0])

    async def unauthenticated_failure(self, ip: str) -> None:
        await self.hit(self.unauthenticated, "unauth", ip)

    async def callback(self, provider: str, ip: str) -> None:
        """Providers' callbacks carry no credentials of ours: one budget per provider and source address."""
        await self.hit(self.callbacks, "callback", provider, ip)

    async def login_attempt(self, ip: str) -> None:
        await self.hit(self.login, "login", ip)

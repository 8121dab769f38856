"""Rate limits per client with the `limits` library: in memory for one replica, Redis (or Valkey, Memcached) through
GATEWAY_RATE_LIMIT_STORAGE_URI when several replicas must share the counters."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from gateway.settings import Settings
from services.errors import Problem
from services.identity import Identity, Role


def async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.uri = async_uri(settings.rate_limit_storage_uri)
        self._limiter: SlidingWindowCounterRateLimiter | None = None
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

    @property
    def limiter(self) -> SlidingWindowCounterRateLimiter:
        if self._limiter is None:  # created inside the running loop (the memory storage starts a timer task)
            self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(self.uri))
        return self._limiter

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        if await self.limiter.hit(item, *key):
            return
        stats = await self.limiter.get_window_stats(item, *key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
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

    async def login_attempt(self, ip: str) -> None:
        await self.hit(self.login, "login", ip)

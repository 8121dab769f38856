"""The clients of the simulation, all through the public gateway: the portal (API key, acting for a citizen), desk
officers and agency specialists (staff log-in, bearer tokens renewed when they expire), the leader; and the payment
providers' callbacks (no credentials of ours).

Every call is retried while the system answers 429/502/503/504 or cannot be reached (a service or the broker being
restarted); POSTs that are not idempotent are only retried by the callers that can check what happened.

The clients speak through aiohttp: the simulated city sends some 200,000 requests a quarter, and with httpx the
simulator itself used 15 % of the quarter's CPU, 90 % of it in httpx's pool bookkeeping and anyio (py-spy). The
providers' callbacks go through their own small httpx client, which provider_simulator takes.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

#: 429: the request was not taken; a client waits and sends it again (as it does when the system is unavailable).
RETRYABLE = {429, 502, 503, 504}


class Unavailable(Exception):
    """The system did not answer (or answered 429/502/503/504): the request may or may not have taken effect."""


@dataclass(frozen=True)
class Reply:
    method: str
    path: str
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Refused(Exception):
    def __init__(self, response: Reply) -> None:
        self.status = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        self.code = self.body.get("code") if isinstance(self.body, dict) else None
        super().__init__(f"{response.method} {response.path} → {self.status}: {self.body}")


@dataclass
class Staff:
    username: str
    password: str
    unit: str | None
    token: str | None = None


class Gateway:
    def __init__(self, base_url: str, portal_key: str, *, concurrency: int = 64,
                 patience: float = 300.0) -> None:  # fmt: skip
        self.base = base_url.rstrip("/")
        self.portal_key = portal_key
        self.patience = patience
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=60.0, connect=5.0),
        )
        #: for provider_simulator, which sends the providers' signed callbacks with httpx
        self.wallet_http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0),
                                             limits=httpx.Limits(max_connections=8))  # fmt: skip
        self.staff: dict[str, Staff] = {}
        self._login_locks: dict[str, asyncio.Lock] = {}
        self.calls = 0

    async def close(self) -> None:
        await self.http.close()
        await self.wallet_http.aclose()

    def add_staff(self, username: str, password: str, unit: str | None) -> None:
        self.staff[username] = Staff(username, password, unit)
        self._login_locks[username] = asyncio.Lock()

    async def _login(self, s: Staff, stale: str | None) -> str:
        async with self._login_locks[s.username]:
            if s.token is not None and s.token != stale:
                return s.token
            r = await self.send("POST", "/api/v1/auth/token", json={"username": s.username, "password": s.password})
            s.token = r.json()["access_token"]
            return s.token

    async def send(self, method: str, path: str, *, headers: dict[str, str] | None = None, retry: bool = True,
                   files: dict[str, tuple[str, bytes, str]] | None = None, **kwargs: Any) -> Reply:  # fmt: skip
        """One request; waits out an unavailable system when `retry` (else raises Unavailable); 4xx → Refused.

        `files`: multipart fields as (file name, content, content type)."""
        deadline = time.monotonic() + self.patience
        delay = 0.2
        while True:
            self.calls += 1
            if files is not None:  # a form is consumed by sending it: a new one for each attempt
                form = aiohttp.FormData()
                for name, (filename, content, content_type) in files.items():
                    form.add_field(name, content, filename=filename, content_type=content_type)
                kwargs["data"] = form
            try:
                async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:
                    r = Reply(method, path, response.status, await response.read())
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure: str = repr(exc)
            else:
                if r.status_code < 400:
                    return r
                if r.status_code not in RETRYABLE:
                    raise Refused(r)
                failure = f"{r.status_code} {r.text[:200]}"
            if not retry or time.monotonic() > deadline:
                raise Unavailable(f"{method} {path}: {failure}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)

    async def as_staff(self, username: str, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        s = self.staff[username]
        extra = kwargs.pop("headers", {})
        token = s.token or await self._login(s, None)
        for _ in range(3):
            try:
                headers = {"Authorization": f"Bearer {token}", **extra}
                r = await self.send(method, path, headers=headers, retry=retry, **kwargs)
                return r.json() if r.content else None
            except Refused as exc:
                if exc.status != 401:
                    raise
                token = await self._login(s, token)  # the access token expired
        raise RuntimeError(f"{username} cannot log in")

    async def as_portal(self, citizen_id: str, account: str, method: str, path: str, *, retry: bool = True,
                        **kwargs: Any) -> Any:  # fmt: skip
        headers = {"X-API-Key": self.portal_key, "X-Citizen-Id": citizen_id, "X-Citizen-Account": account,
                   **kwargs.pop("headers", {})}  # fmt: skip
        r = await self.send(method, path, headers=headers, retry=retry, **kwargs)
        return r.json() if r.content else None

    async def portal_get(self, path: str, **kwargs: Any) -> Any:
        return (await self.send("GET", path, headers={"X-API-Key": self.portal_key}, **kwargs)).json()

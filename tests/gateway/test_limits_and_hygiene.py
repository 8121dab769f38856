"""Rate limits, body size, path traversal, header injection, login attempts, CORS, problem+json for 404/405."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from services.db import Database
from tests.conftest import DatabaseFactory
from tests.gateway.support import PASSWORD, clear_of_window_edge, free_port, raw_request, run_gateway


async def test_a_flood_from_one_client_leaves_the_others_unaffected(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, rate_limit_integration="5/minute") as gw, \
            gw.client() as client:
        integration = gw.creds["integration"]
        await clear_of_window_edge("5/minute")
        statuses = [(await client.get("/api/v1/catalogue/x", headers=integration)).status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
        limited = await client.get("/api/v1/stats/x", headers=integration)
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Other clients have their own budgets.
        assert (await client.get("/api/v1/catalogue/x", headers=gw.creds["portal"])).status_code == 200
        assert (await client.get("/api/v1/catalogue/x", headers=gw.creds["desk"])).status_code == 200


async def test_an_unreachable_shared_limit_store_falls_back_to_local_limits(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    """Redis configured but down (nothing listens on its port): requests are served, not 500s, and a flood is still
    limited by this replica's own counters."""
    async with run_gateway(await databases.new("gw"), upstreams, rate_limit_integration="5/minute",
                           rate_limit_storage_uri=f"redis://127.0.0.1:{free_port()}") as gw, \
            gw.client() as client:  # fmt: skip
        integration = gw.creds["integration"]
        await clear_of_window_edge("5/minute")
        statuses = [(await client.get("/api/v1/catalogue/x", headers=integration)).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        assert (await client.get("/api/v1/catalogue/x", headers=gw.creds["portal"])).status_code == 200


async def test_an_unreachable_key_database_is_a_503_not_a_500(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    """Found by `make chaos`: while PostgreSQL was stopped, an API key whose cached row had expired was looked up,
    the lookup failed, and the portal got a 500. Its client must be told to retry instead."""
    async with run_gateway(await databases.new("gw"), upstreams, api_key_cache_seconds=0) as gw, \
            gw.client() as client:  # fmt: skip
        assert (await client.get("/api/v1/catalogue/x", headers=gw.creds["portal"])).status_code == 200
        down = Database("postgresql+asyncpg://nobody:x@127.0.0.1:1/none")  # nothing listens on port 1
        gw.app.state.gateway.keys.sessionmaker = down.sessionmaker
        try:
            r = await client.get("/api/v1/catalogue/x", headers=gw.creds["portal"])
        finally:
            await down.dispose()
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "2"
        assert r.json()["type"].endswith("/database-unavailable")


async def test_failed_logins_are_limited_per_account(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, login_max_failures=3) as gw, gw.client() as client:
        for _ in range(3):
            r = await client.post("/api/v1/auth/token", json={"username": "leader", "password": "wrong"})
            assert r.status_code == 401 and r.json()["type"].endswith("/invalid-credentials")
        r = await client.post("/api/v1/auth/token", json={"username": "leader", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right password waits
        # Another account is unaffected; a form post works too (the docs page's login).
        r = await client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["role"] == "admin"
        who = await client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert who.json()["role"] == "admin"
        unknown = await client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"})
        assert unknown.status_code == 401
        bad = await client.post("/api/v1/auth/token", content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


async def test_oversized_bodies_are_refused(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, max_body_bytes=1000) as gw, gw.client() as client:
        headers = {**gw.creds["citizen"], "content-type": "application/octet-stream"}
        ok = await client.post("/api/v1/dossiers/1/documents", headers=headers, content=b"x" * 1000)
        assert ok.status_code == 200 and ok.json()["body_length"] == 1000

        big = await client.post("/api/v1/dossiers/1/documents", headers=headers, content=b"x" * 1001)
        assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"y" * 400

        chunked = await client.post("/api/v1/dossiers/1/documents", headers=headers, content=chunks())
        assert chunked.status_code == 413

        async def small() -> AsyncIterator[bytes]:
            yield b"z" * 300
            yield b"z" * 300

        fits = await client.post("/api/v1/dossiers/1/documents", headers=headers, content=small())
        assert fits.status_code == 200 and fits.json()["body_length"] == 600
        # Even before authentication.
        anonymous = await client.post("/api/v1/dossiers", content=b"x" * 5000)
        assert anonymous.status_code == 413


async def test_path_traversal_is_refused(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw:
        key = gw.creds["portal"]["X-API-Key"]
        for path in (
            "/api/v1/dossiers/../../admin",
            "/api/v1/catalogue/../dossiers/x",
            "/api/v1/dossiers/%2e%2e/%2e%2e/admin",
            "/api/v1/dossiers/%2E%2E/x",
            "/api/v1/dossiers/.%2e/x",
            "/api/v1/dossiers/%252e%252e/x",
            "/api/v1/dossiers/a%2f..%2f..%2fadmin",
            "/api/v1/dossiers/..%5c..%5cadmin",
            "/api/v1/dossiers/a%00b",
            "/api/v1/../healthz",
        ):
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n".encode()
            status, headers, body = await raw_request(gw.url, request)
            assert status == 400, (path, status, body)
            assert headers["content-type"] == "application/problem+json"
        async with gw.client() as client:  # the services' own operations endpoints are not reachable
            for path in ("/api/v1/catalogue/metrics", "/api/v1/catalogue/openapi.json", "/api/v1/stats/readyz"):
                assert (await client.get(path, headers=gw.creds["admin"])).status_code == 404


async def test_header_injection_is_neutralised(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        portal = gw.creds["portal"]
        r = await client.get("/api/v1/catalogue/x", headers={**portal, "X-Request-Id": "abc%0d%0aSet-Cookie:%20a=1"})
        assert r.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])  # replaced by a fresh id
        assert "set-cookie" not in r.headers
        assert r.json()["headers"]["x-request-id"] == r.headers["x-request-id"]  # propagated to the service
        kept = await client.get("/api/v1/catalogue/x", headers={**portal, "X-Request-Id": "portal-req-42"})
        assert kept.headers["x-request-id"] == "portal-req-42"
        assert kept.json()["headers"]["x-request-id"] == "portal-req-42"
        assert kept.headers.get_list("x-request-id") == ["portal-req-42"]
        # Raw CR inside a header value never reaches the application.
        key = portal["X-API-Key"]
        raw = (f"GET /api/v1/catalogue/x HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
               "X-Request-Id: abc\rSet-Cookie: a=1\r\nConnection: close\r\n\r\n").encode()
        status, headers, _ = await raw_request(gw.url, raw)
        assert status == 400 and "set-cookie" not in headers


async def test_errors_are_problem_json_and_cors_serves_the_portal(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    origin = "https://dichvucong.hue.gov.vn"
    async with run_gateway(await databases.new("gw"), upstreams, cors_origins=[origin]) as gw, gw.client() as client:
        for method, path, status in (
            ("GET", "/api/v1/nowhere/x", 404),
            ("GET", "/nowhere", 404),
            ("DELETE", "/healthz", 405),
            ("TRACE", "/api/v1/catalogue/x", 405),
            ("GET", "/api/v1/catalogue/x", 401),
        ):
            r = await client.request(method, path, headers=gw.creds["portal"] if status == 404 else {})
            assert r.status_code == status, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == status
        preflight = await client.options("/api/v1/dossiers", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, x-citizen-id, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        r = await client.get("/api/v1/catalogue/x", headers={**gw.creds["portal"], "Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin
        other = await client.options("/api/v1/dossiers", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers

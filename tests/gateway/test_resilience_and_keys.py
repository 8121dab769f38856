"""A service stopped mid-test, slow services, large answers, the aggregated OpenAPI document, API key rotation and
revocation."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from gateway.auth import create_api_key, revoke_api_keys, rotate_api_key

from services.identity import Role
from tests.conftest import DatabaseFactory
from tests.gateway.support import Upstream, run_gateway


async def test_a_service_stopped_mid_test_gives_503_then_recovers(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    stats = Upstream("stats")
    stats.start()
    await asyncio.to_thread(stats.wait)
    try:
        async with run_gateway(await databases.new("gw"), {**upstreams, "stats": stats.url},
                               retry_after_seconds=7) as gw, gw.client() as client:
            leader = gw.creds["leader"]
            assert (await client.get("/api/v1/stats/reports", headers=leader)).status_code == 200
            doc = (await client.get("/openapi.json")).json()
            assert "/api/v1/stats/items/{item_id}" in doc["paths"]

            await asyncio.to_thread(stats.stop)
            for method in ("GET", "POST"):
                headers = leader if method == "GET" else gw.creds["admin"]
                down = await client.request(method, "/api/v1/stats/reports", headers=headers)
                assert down.status_code == 503, down.text
                assert down.headers["retry-after"] == "7"
                assert down.headers["content-type"] == "application/problem+json"
                assert down.json()["service"] == "stats"
            # The others still answer; the OpenAPI document keeps the last copy it fetched.
            assert (await client.get("/api/v1/catalogue/x", headers=leader)).status_code == 200
            assert "/api/v1/stats/items/{item_id}" in (await client.get("/openapi.json")).json()["paths"]

            stats.start()
            await asyncio.to_thread(stats.wait)
            assert (await client.get("/api/v1/stats/reports", headers=leader)).status_code == 200
    finally:
        stats.stop()


async def test_a_service_never_up_is_left_out_of_the_openapi_document(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    nowhere = Upstream("never-started")
    async with run_gateway(await databases.new("gw"), {**upstreams, "routing": nowhere.url}) as gw, \
            gw.client() as client:
        doc = (await client.get("/openapi.json")).json()
        assert doc["x-motcua-unavailable"] == ["routing"]
        assert "/api/v1/catalogue/items/{item_id}" in doc["paths"]
        assert "/api/v1/auth/token" in doc["paths"]
        op = doc["paths"]["/api/v1/dossiers/items/{item_id}"]["get"]
        assert op["operationId"] == "dossiers_get_item"
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/dossiers.Item" and "dossiers.Item" in doc["components"]["schemas"]
        assert not any(p.endswith("/healthz") and p.startswith("/api/v1/") for p in doc["paths"])
        assert set(doc["components"]["securitySchemes"]) >= {"ApiKey", "StaffToken"}
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "/openapi.json" in docs.text
        r = await client.get("/api/v1/routing/worklist", headers=gw.creds["desk"])
        assert r.status_code == 503


async def test_slow_services_time_out_and_large_answers_stream(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, upstream_timeout=0.5) as gw, gw.client() as client:
        slow = await client.get("/api/v1/catalogue/slow", params={"s": 2}, headers=gw.creds["portal"])
        assert slow.status_code == 504 and slow.headers["content-type"] == "application/problem+json"
        big = await client.get("/api/v1/catalogue/big", headers=gw.creds["portal"])
        assert big.status_code == 200 and len(big.content) == 32 * 65536
        expected = b"".join(bytes([65 + i % 26]) * 65536 for i in range(32))
        assert hashlib.sha256(big.content).digest() == hashlib.sha256(expected).digest()
        body = "hồ sơ ".encode() * 1000
        echo = await client.put("/api/v1/catalogue/procedures/1", content=body, headers=gw.creds["admin"])
        assert echo.json()["body_sha256"] == hashlib.sha256(body).hexdigest()  # bytes forwarded as sent
        assert echo.json()["query"] == ""
        search = "/api/v1/catalogue/search?q=h%E1%BB%99%20t%E1%BB%8Bch&level=ward"
        q = await client.get(search, headers=gw.creds["admin"])
        assert q.json()["query"] == "q=h%E1%BB%99%20t%E1%BB%8Bch&level=ward"


async def test_api_keys_rotate_and_revoke(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, api_key_cache_seconds=0) as gw, \
            gw.client() as client:
        db, settings = gw.app.state.db, gw.settings
        async with db.sessionmaker() as session:
            first = await create_api_key(session, settings, client="postal", role=Role.INTEGRATION,
                                         scopes=["catalogue:read"])
            await session.commit()
        assert (await client.get("/api/v1/catalogue/x", headers={"X-API-Key": first})).status_code == 200
        async with db.sessionmaker() as session:
            second = await rotate_api_key(session, settings, client="postal", grace=timedelta(hours=1))
            await session.commit()
        for key in (first, second):  # both work during the grace period
            r = await client.get("/api/v1/catalogue/x", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200
            assert r.json()["identity"]["scopes"] == ["catalogue:read"]
        async with db.sessionmaker() as session:
            third = await rotate_api_key(session, settings, client="postal", grace=timedelta(0))
            await session.commit()
        assert (await client.get("/api/v1/catalogue/x", headers={"X-API-Key": first})).json()["type"].endswith(
            "/expired-api-key")
        assert (await client.get("/api/v1/catalogue/x", headers={"X-API-Key": third})).status_code == 200
        async with db.sessionmaker() as session:
            assert await revoke_api_keys(session, prefix=third.split("_")[1]) == 1
            await session.commit()
        r = await client.get("/api/v1/catalogue/x", headers={"X-API-Key": third})
        assert r.status_code == 401 and r.json()["type"].endswith("/revoked-api-key")

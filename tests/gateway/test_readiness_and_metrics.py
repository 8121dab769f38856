"""The gateway's /readyz asks every service's /readyz and names those down; its /metrics needs the metrics token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.conftest import DatabaseFactory
from tests.gateway.support import free_port, run_gateway

SERVICES = ["catalogue", "intake", "routing", "payment", "stats"]


@asynccontextmanager
async def raw_server(answer: bytes | None) -> AsyncIterator[str]:
    """A server that answers every request with `answer`, or accepts connections and never answers (None)."""
    waiting: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if answer is None:
            waiting.append(writer)
            return
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in waiting:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_readyz_asks_every_service_and_names_those_down(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", **dict.fromkeys(SERVICES, "ok")}}

    unready = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    async with raw_server(unready) as unready_url, raw_server(None) as silent_url:
        broken = {**upstreams, "payments": unready_url, "routing": silent_url,
                  "stats": f"http://127.0.0.1:{free_port()}"}
        async with run_gateway(await databases.new("gw"), broken, readyz_timeout=0.5) as gw, \
                gw.client() as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503, ready.text
            body = ready.json()
            assert body["status"] == "not ready" and body["down"] == ["routing", "payment", "stats"]
            checks = body["checks"]
            assert {name: checks[name] for name in ("database", "catalogue", "intake")} == dict.fromkeys(
                ("database", "catalogue", "intake"), "ok"
            )
            assert checks["payment"] == "not ready: 503"
            assert checks["routing"] == "no answer within 0.5 s"
            assert checks["stats"].startswith("unreachable: ")
            # Kubernetes' probe asks for the gateway's own readiness only: the families that work stay served.
            own = await client.get("/readyz", params={"upstreams": "false"})
            assert own.status_code == 200 and own.json() == {"status": "ready", "checks": {"database": "ok"}}
            # The services' families still work through the gateway meanwhile.
            item = await client.get("/api/v1/catalogue/items/1", headers=gw.creds["portal"])
            assert item.status_code == 200, item.text


async def test_metrics_need_the_metrics_token_and_are_off_without_one(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        off = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
        assert off.status_code == 403
        assert off.headers["content-type"] == "application/problem+json"
        assert off.json()["type"].endswith("/metrics-disabled") and "GATEWAY_METRICS_TOKEN" in off.json()["detail"]

    async with run_gateway(await databases.new("gw"), upstreams, metrics_token="scrape-me-0123") as gw, \
            gw.client() as client:
        for headers in ({}, {"Authorization": "Bearer scrape-me-0124"}, {"Authorization": "Basic scrape-me-0123"},
                        gw.creds["admin"]):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert refused.json()["type"].endswith("/metrics-token-required")
        for _ in range(2):  # the second scrape sees the first
            scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123"})
            assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert 'http_requests_total{method="GET",route="/metrics",status="200"}' in scraped.text

"""The gateway's connection pool against a service that speaks raw HTTP/1.x on a real socket: answers that end when
the connection closes, interim 1xx answers, answers that are not HTTP, hang-ups, keep-alive reuse after HEAD."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.conftest import DatabaseFactory
from tests.gateway.support import run_gateway


class RawService:
    """Answers by path; counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: collections.Counter[str] = collections.Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                path = target.split("?")[0]
                self.requests[f"{method} {path}"] += 1
                if path == "/until-close":
                    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
                    writer.write("Hồ sơ đã tiếp nhận".encode() * 100)
                    await writer.drain()
                    return
                if path == "/garbage":
                    writer.write(b"this is not HTTP\r\n\r\n")
                    await writer.drain()
                    return
                if path == "/hangup":
                    return
                if path == "/interim":
                    writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
                body = b"" if method == "HEAD" else b'{"ok":true}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + body)
                await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def raw_service() -> AsyncIterator[tuple[RawService, str]]:
    service = RawService()
    server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def test_the_pool_against_raw_http(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with raw_service() as (service, url), \
            run_gateway(await databases.new("gw"), {**upstreams, "catalogue": url}) as gw, gw.client() as client:
        portal, admin = gw.creds["portal"], gw.creds["admin"]

        # Keep-alive: a HEAD (a length but no body) and the next requests share one connection.
        head = await client.head("/api/v1/catalogue/a", headers=portal)
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "11"
        for _ in range(3):
            r = await client.get("/api/v1/catalogue/a", headers=portal)
            assert r.status_code == 200 and r.json() == {"ok": True}
        assert service.connections == 1

        # An HTTP/1.0 answer without a length ends when the service closes the connection.
        r = await client.get("/api/v1/catalogue/until-close", headers=portal)
        assert r.status_code == 200 and r.text == "Hồ sơ đã tiếp nhận" * 100

        # Interim answers are skipped; the final one is relayed.
        r = await client.get("/api/v1/catalogue/interim", headers=portal)
        assert r.status_code == 200 and r.json() == {"ok": True} and "link" not in r.headers

        # Not HTTP: 502. A hang-up before the answer: 502, after the retries for idempotent requests only.
        r = await client.get("/api/v1/catalogue/garbage", headers=portal)
        assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
        r = await client.get("/api/v1/catalogue/hangup", headers=portal)
        assert r.status_code == 502 and r.json()["service"] == "catalogue"
        assert service.requests["GET /hangup"] == 1 + gw.settings.upstream_retries
        r = await client.post("/api/v1/catalogue/hangup", headers=admin, json={"name": "x"})
        assert r.status_code == 502
        assert service.requests["POST /hangup"] == 1
        r = await client.post("/api/v1/catalogue/hangup", headers={**admin, "Idempotency-Key": "k-1"}, json={})
        assert r.status_code == 502
        assert service.requests["POST /hangup"] == 2 + gw.settings.upstream_retries

        # The pool is still usable afterwards.
        assert (await client.get("/api/v1/catalogue/a", headers=portal)).json() == {"ok": True}

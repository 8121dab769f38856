"""The lean path for proxied requests: HEAD, encoded family names, metrics and the gateway's own pages beside it."""

from __future__ import annotations

from tests.conftest import DatabaseFactory
from tests.gateway.support import raw_request, run_gateway


async def test_the_proxied_path_and_the_gateways_own_pages(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, metrics_token="edge-metrics") as gw, \
            gw.client() as client:
        portal = gw.creds["portal"]
        head = await client.head("/api/v1/catalogue/x", headers=portal)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) > 0 and head.headers["x-request-id"]

        # A family name the client percent-encoded reaches the same service, under the same path.
        key = portal["X-API-Key"]
        request = (f"GET /api/v1/%63atalogue/h%E1%BB%93-s%C6%A1?q=1 HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                   "Connection: close\r\n\r\n").encode()
        status, _, body = await raw_request(gw.url, request)
        assert status == 200, body
        assert b'"raw_path":"/h%E1%BB%93-s%C6%A1"' in body and b'"query":"q=1"' in body

        # The gateway's own operations still go through FastAPI, next to the proxied families.
        who = await client.get("/api/v1/auth/whoami", headers=portal)
        assert who.status_code == 200 and who.json()["role"] == "portal"
        nothing = await client.get("/api/v1/auth/nothing", headers=portal)
        assert nothing.status_code == 404 and nothing.headers["content-type"] == "application/problem+json"
        metrics = (await client.get("/metrics", headers={"Authorization": "Bearer edge-metrics"})).text
        assert 'route="/api/v1/{family}/{rest:path}"' in metrics

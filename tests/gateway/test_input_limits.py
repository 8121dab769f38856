"""The gateway applies the input limits of its own settings (GATEWAY_JSON_MAX_DEPTH …) to every proxied request
before it authorises on the body or forwards it: the test services behind it here check nothing themselves."""

from __future__ import annotations

from tests.conftest import DatabaseFactory
from tests.gateway.support import run_gateway

JSON = {"content-type": "application/json"}


async def test_the_edge_refuses_what_breaks_its_limits(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams, json_max_depth=5, json_max_number_digits=10,
                           max_query_bytes=100, max_header_bytes=4000) as gw, gw.client() as client:  # fmt: skip
        for who in ("admin", "desk", "citizen"):  # the desk's body is read for its unit filters too
            headers = {**gw.creds[who], **JSON}
            shallow = await client.post("/api/v1/dossiers/x", content=b'[[[[["x"]]]]]', headers=headers)
            assert shallow.status_code == 200, shallow.text  # reached the service
            deep = await client.post("/api/v1/dossiers/x", content=b"[" * 5000, headers=headers)
            assert deep.status_code == 400 and deep.headers["content-type"] == "application/problem+json"
            assert deep.json()["type"].endswith("/json-too-deep")
            assert (deep.json()["limit"], deep.json()["depth"], deep.json()["offset"]) == (5, 5000, 5)
            number = await client.post("/api/v1/dossiers/x", content=b'{"n": 12345678901}', headers=headers)
            assert number.status_code == 400 and number.json()["type"].endswith("/json-number-too-long")
            latin1 = await client.post("/api/v1/dossiers/x", content=b'{"name": "Hu\xe9"}', headers=headers)
            assert latin1.status_code == 400 and latin1.json()["type"].endswith("/invalid-utf-8")
        portal = gw.creds["portal"]
        assert (await client.get("/api/v1/catalogue/x", params={"q": "x" * 90}, headers=portal)).status_code == 200
        long_query = await client.get("/api/v1/catalogue/x", params={"q": "x" * 100}, headers=portal)
        assert long_query.status_code == 414 and long_query.json()["limit"] == 100
        big_headers = await client.get("/api/v1/catalogue/x", headers={**portal, "x-pad": "x" * 4000})
        assert big_headers.status_code == 431 and big_headers.json()["header"] == "x-pad"
        # The gateway's own pages get the same limits from the kernel's middleware.
        login = await client.post("/api/v1/auth/token", content=b'{"username": [[[[[["x"]]]]]]}', headers=JSON)
        assert login.status_code == 400 and login.json()["depth"] == 7
        assert (await client.get("/api/v1/auth/whoami", params={"q": "x" * 100}, headers=portal)).status_code == 414

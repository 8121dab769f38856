"""Input the fuzz run does not generate, on every route family, through the gateway and on each service directly:
deeply nested JSON (Python's parser recursed until RecursionError: a 500), a number longer than Python's int
parsing allows (ValueError), bodies that are not UTF-8, an oversized query string and oversized headers."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from services.identity import Role
from tests.fuzz.support import DESK_UNIT, RunningSystem, internal_headers


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # at the gateway
    client: str  # the gateway client that may call it
    service: str | None  # the service behind it (None: the gateway's own)
    role: Role | None
    content_type: str | None = "application/json"
    #: the service's own path, where it is not the public one without its family prefix
    service_path: str | None = None

    def direct(self) -> str:
        return self.service_path or "/" + self.path.removeprefix("/api/v1/").partition("/")[2]


ROUTES = {
    "auth-token": Route("POST", "/api/v1/auth/token", "anonymous", None, None),
    "catalogue-units": Route("POST", "/api/v1/catalogue/units", "admin", "catalogue", Role.ADMIN),
    "catalogue-import": Route("POST", "/api/v1/catalogue/imports", "admin", "catalogue", Role.ADMIN, None),
    "dossiers-submit": Route("POST", "/api/v1/dossiers/dossiers", "desk", "intake", Role.DESK_OFFICER),
    "routing-transfer": Route("POST", "/api/v1/routing/journeys/0f0f0f0f-0000-4000-8000-000000000000/transfer",
                              "desk", "routing", Role.DESK_OFFICER),
    "payments-start": Route("POST", "/api/v1/payments/bills/0f0f0f0f-0000-4000-8000-000000000000/payments",
                            "desk", "payment", Role.DESK_OFFICER),
    # the providers' callbacks carry no credentials of ours, at the gateway or at payment-svc
    "payments-callback": Route("POST", "/api/v1/callbacks/payos", "anonymous", "payment", None,
                               service_path="/webhooks/payos"),
    "stats-report": Route("GET", "/api/v1/stats/reports/quarterly?from=2026-10-01&to=2026-12-31", "leader",
                          "stats", Role.LEADER),
}
WAYS = ["gateway", "direct"]


def send(system: RunningSystem, route: Route, way: str, body: bytes, **extra: str) -> httpx.Response:
    headers = {"Idempotency-Key": "input-limits", **extra}
    if route.content_type:
        headers["content-type"] = route.content_type
    if way == "gateway" or route.service is None:
        url = system.gateway + route.path
        headers.update(system.headers[route.client])
    else:
        url = system.service_url(route.service) + route.direct()
        if route.role is not None:
            headers.update(internal_headers(route.role, DESK_UNIT if route.role != Role.ADMIN else None))
    return httpx.request(route.method, url, content=body, headers=headers, timeout=30)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, object] = response.json()
    assert document["type"] == f"https://motcua.vn/problems/{code}", document
    return document


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", ROUTES)
def test_deeply_nested_json_is_a_400_that_says_how_deep(system: RunningSystem, name: str, way: str) -> None:
    for body in (b"[" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
        document = problem(send(system, ROUTES[name], way, body), 400, "json-too-deep")
        assert document["limit"] == 64 and document["depth"] in (5000, 3000) and document["offset"] == 64 * (
            1 if body[0] == ord("[") else 5)
        assert "64" in str(document["detail"])


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", ROUTES)
def test_a_number_longer_than_python_parses_is_a_400(system: RunningSystem, name: str, way: str) -> None:
    body = b'{"amount": 1' + b"0" * 5000 + b"}"
    document = problem(send(system, ROUTES[name], way, body), 400, "json-number-too-long")
    assert document["digits"] == 5001 and document["limit"] == 100 and document["offset"] == 11


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", [n for n, r in ROUTES.items() if r.content_type])
def test_a_json_body_that_is_not_utf8_is_a_400(system: RunningSystem, name: str, way: str) -> None:
    body = b'{"username": "Nguy\xe1\xbb\x85n \xff", "password": "x"}'
    document = problem(send(system, ROUTES[name], way, body), 400, "invalid-utf-8")
    assert document["offset"] == body.index(b"\xff")


def test_strings_and_shallow_documents_pass(system: RunningSystem) -> None:
    """Brackets and digits inside strings are text; a wrong login in a valid document reaches the login."""
    text = "[" * 500 + "1" * 500
    r = httpx.post(system.gateway + "/api/v1/auth/token", json={"username": text[:64], "password": text})
    problem(r, 401, "invalid-credentials")


@pytest.mark.parametrize("target", ["gateway-edge", "gateway-own", "service"])
def test_an_oversized_query_string_is_a_414_and_oversized_headers_a_431(system: RunningSystem, target: str) -> None:
    if target == "gateway-edge":
        url, headers = system.gateway + "/api/v1/catalogue/procedures", system.headers["portal"]
    elif target == "gateway-own":
        url, headers = system.gateway + "/api/v1/auth/whoami", system.headers["portal"]
    else:
        url, headers = system.service_url("catalogue") + "/procedures", internal_headers(Role.ADMIN)
    too_long = problem(httpx.get(url, params={"q": "x" * 9000}, headers=headers), 414, "query-too-long")
    assert too_long["limit"] == 8192 and too_long["size"] == 9002
    too_large = problem(httpx.get(url, headers={**headers, "X-Padding": "x" * 17000}), 431, "headers-too-large")
    assert too_large["limit"] == 16384 and too_large["header"] == "x-padding"
    # Below the limits the same requests are served.
    assert httpx.get(url, params={"q": "x" * 100}, headers={**headers, "X-Padding": "x" * 100}).status_code == 200


@pytest.mark.parametrize(("client", "method", "url", "body"), [
    ("anonymous", "POST", "/api/v1/auth/token", b'{"username": "demo.admin\\u0000", "password": "x"}'),
    ("admin", "POST", "/api/v1/catalogue/fields", b'{"code": "G99-NUL\\u0000", "name": "x"}'),
    ("desk", "GET", "/api/v1/dossiers/dossiers?code=%00", None),
    ("catalogue", "GET", "/procedures/1.900001%00", None),  # on the service directly
])  # fmt: skip
def test_a_nul_character_is_a_400(
    system: RunningSystem, client: str, method: str, url: str, body: bytes | None
) -> None:
    """PostgreSQL takes no NUL in text: asyncpg raised DataError, a 500 (on SQLite the NUL was stored)."""
    if client == "catalogue":
        url, headers = system.service_url("catalogue") + url, internal_headers(Role.ADMIN)
    else:
        url, headers = system.gateway + url, system.headers[client]
    r = httpx.request(method, url, content=body, headers={**headers, "content-type": "application/json"})
    assert problem(r, 400, "nul-character")["where"] in ("body", "query string", "path")

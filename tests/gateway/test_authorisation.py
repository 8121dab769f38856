"""Every client type × every route family and method, through the real gateway to real service processes."""

from __future__ import annotations

import time

import jwt
import pytest
from gateway.auth import STAFF_AUDIENCE, STAFF_ISSUER

from services.identity import Identity, Role, mint
from tests.conftest import DatabaseFactory
from tests.gateway.support import DESK_UNIT, FAMILIES, OTHER_UNIT, run_gateway

OPERATIONS = [
    ("GET", "/api/v1/catalogue/items/1"),
    ("POST", "/api/v1/catalogue/procedures"),
    ("GET", "/api/v1/dossiers/search"),
    ("POST", "/api/v1/dossiers"),
    ("GET", "/api/v1/routing/worklist"),
    ("POST", "/api/v1/routing/hops/1/accept"),
    ("GET", "/api/v1/payments/bills"),
    ("POST", "/api/v1/payments/bills"),
    ("POST", "/api/v1/payments/webhooks/payos"),
    ("GET", "/api/v1/payments/webhooks/payos"),
    ("GET", "/api/v1/stats/reports/quarterly"),
    ("POST", "/api/v1/stats/rebuild"),
]
# One row per client, one column per operation above: the status the gateway must answer.
# Providers' callbacks are public routes of their own (/api/v1/callbacks/…, tests/payment/test_callbacks.py): under
# /api/v1/payments/webhooks nobody reaches payment-svc, and wallet API keys reach nothing.
A, U, F, N = 200, 401, 403, 404
# Paths the table of services/policy.py knows (GET /payments/bills, GET /stats/reports/quarterly) follow their row;
# the others (fake paths of the test services) whatever some operation of their family and kind allows.
MATRIX = {
    "anonymous":   [U, U, U, U, U, U, U, U, U, U, U, U],
    "portal":      [A, F, A, F, F, F, F, F, N, N, F, F],
    "citizen":     [A, F, A, A, F, F, F, A, N, N, F, F],
    "wallet":      [F, F, F, F, F, F, F, F, N, N, F, F],
    "integration": [A, F, F, F, F, F, F, F, N, N, F, F],
    "desk":        [A, F, A, A, A, A, A, A, N, N, F, F],
    "specialist":  [A, F, A, F, A, A, A, F, N, N, F, F],
    "leader":      [A, F, A, F, A, A, A, F, N, N, A, F],
    "admin":       [A, A, A, A, A, A, A, A, N, N, A, A],
}
ROLES = {"portal": Role.PORTAL, "citizen": Role.PORTAL, "wallet": Role.WALLET, "integration": Role.INTEGRATION,
         "desk": Role.DESK_OFFICER, "specialist": Role.SPECIALIST, "leader": Role.LEADER, "admin": Role.ADMIN}


async def test_authorisation_matrix(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        failures = []
        for who, expected in MATRIX.items():
            headers = gw.creds.get(who, {})
            for (method, path), status in zip(OPERATIONS, expected, strict=True):
                body = {"note": "x"} if method == "POST" else None
                r = await client.request(method, path, headers=headers, json=body)
                if r.status_code != status:
                    failures.append(f"{who} {method} {path}: {r.status_code} (expected {status}) {r.text[:120]}")
                    continue
                if status != A:
                    assert r.headers["content-type"] == "application/problem+json", (who, path)
                    assert r.json()["status"] == status
                    if status == U:
                        assert "www-authenticate" in r.headers
                    continue
                echo = r.json()
                family = path.split("/")[3]
                if path.startswith("/api/v1/catalogue/items/"):
                    assert echo == {"id": "1", "name": FAMILIES[family]}
                    continue
                assert echo["service"] == FAMILIES[family]
                assert echo["path"] == (path.removeprefix(f"/api/v1/{family}") or "/")  # the prefix is stripped
                assert echo["identity"]["role"] == ROLES[who].value
                assert echo["identity_headers"] == 1
                assert echo["headers"]["x-forwarded-prefix"] == f"/api/v1/{family}"
                assert "authorization" not in echo["headers"] and "x-api-key" not in echo["headers"]
                assert "x-citizen-id" not in echo["headers"]
                if who == "citizen":
                    assert echo["identity"]["citizen"]["id_number"] == "046090001234"
                if who in ("desk", "leader"):
                    assert echo["identity"]["unit"] == DESK_UNIT
        assert not failures, "\n".join(failures)


async def test_jurisdiction_of_a_desk(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        desk = gw.creds["desk"]
        own = await client.get(f"/api/v1/dossiers/{DESK_UNIT}-200916-0001", headers=desk)
        assert own.status_code == 200
        refused = [
            await client.get(f"/api/v1/dossiers/{OTHER_UNIT}-200916-0001", headers=desk),  # by code
            await client.get(f"/api/v1/dossiers/{OTHER_UNIT}-200916-0001/receipt", headers=desk),
            await client.get("/api/v1/dossiers", params={"unit": OTHER_UNIT}, headers=desk),  # by list filter
            await client.get("/api/v1/dossiers", params={"unit": [DESK_UNIT, OTHER_UNIT]}, headers=desk),
            await client.get("/api/v1/dossiers/track", params={"code": f"{OTHER_UNIT}-200916-0002",
                                                                "phone": "0905123456"}, headers=desk),  # tracking
            await client.get("/api/v1/routing/worklist", params={"agency_id": OTHER_UNIT}, headers=desk),
            await client.post("/api/v1/dossiers", json={"receiving_unit": OTHER_UNIT}, headers=desk),
            await client.get("/api/v1/routing/worklist", params={"unit": DESK_UNIT},
                             headers=gw.creds["specialist"]),  # a specialist of a city department
        ]
        for r in refused:
            assert r.status_code == 403, r.text
            assert r.json()["type"].endswith("/out-of-jurisdiction")
        assert (await client.get("/api/v1/dossiers", params={"unit": DESK_UNIT}, headers=desk)).status_code == 200
        # Leaders and admins are not bound by the gateway's unit filter (the services check subtrees).
        admin = gw.creds["admin"]
        assert (await client.get(f"/api/v1/dossiers/{OTHER_UNIT}-200916-0001", headers=admin)).status_code == 200


async def test_tokens_expired_forged_or_misused(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        now = int(time.time())
        claims = {"iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE, "iat": now - 1000, "exp": now - 100, "sub": "1",
                  "role": "admin", "unit": None}
        secret = gw.settings.jwt_secret.get_secret_value()
        expired = jwt.encode(claims, secret, algorithm="HS256")
        r = await client.get("/api/v1/catalogue/x", headers={"Authorization": f"Bearer {expired}"})
        assert r.status_code == 401 and r.json()["type"].endswith("/token-expired")

        fresh = {**claims, "iat": now, "exp": now + 300}
        forged = [
            jwt.encode(fresh, "not-the-secret-" * 3, algorithm="HS256"),
            jwt.encode(fresh, key=None, algorithm="none"),  # type: ignore[arg-type]
            jwt.encode({**fresh, "aud": "motcua-services"}, secret, algorithm="HS256"),
            jwt.encode({**fresh, "role": "portal"}, secret, algorithm="HS256"),  # a system role in a staff token
            # An internal token (even correctly signed) is not a staff credential.
            mint(Identity(subject="x", role=Role.ADMIN), gw.settings.internal_token_secret.get_secret_value()),
            "garbage",
        ]
        for token in forged:
            r = await client.get("/api/v1/catalogue/x", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, token
            assert r.headers["content-type"] == "application/problem+json"
        valid = jwt.encode(fresh, secret, algorithm="HS256")
        ok = await client.get("/api/v1/catalogue/x", headers={"Authorization": f"Bearer {valid}"})
        assert ok.status_code == 200

        for key in ("mck_nosuchprefix_" + "a" * 43, gw.creds["portal"]["X-API-Key"][:-2] + "xx", "mck_bad"):
            r = await client.get("/api/v1/catalogue/x", headers={"X-API-Key": key})
            assert r.status_code == 401, key


@pytest.mark.parametrize("who", ["portal", "desk", None])
async def test_a_client_supplied_identity_token_is_stripped(
    who: str | None, databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        secret = gw.settings.internal_token_secret.get_secret_value()
        smuggled = mint(Identity(subject="attacker", role=Role.ADMIN), secret)
        headers = {**(gw.creds[who] if who else {}), "X-Motcua-Identity": smuggled}
        r = await client.get("/api/v1/stats/reports", headers=headers)
        if who is None:
            assert r.status_code == 401  # no credentials: the smuggled token does not count
            return
        if who == "portal" or who == "desk":
            assert r.status_code == 403  # their own role, not admin, decides
        r = await client.get("/api/v1/catalogue/x", headers=headers)
        echo = r.json()
        assert echo["identity"]["subject"] != "attacker"
        assert echo["identity"]["role"] == ROLES[who].value
        assert echo["identity_headers"] == 1


async def test_only_the_portal_may_act_for_a_citizen(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        citizen = {"X-Citizen-Id": "046090001234", "X-Citizen-Account": "acc-77",
                   "X-Citizen-Name": "Nguy%E1%BB%85n%20Th%E1%BB%8B%20H%C6%B0%C6%A1ng"}
        r = await client.post("/api/v1/dossiers", headers={**gw.creds["portal"], **citizen}, json={})
        assert r.status_code == 200
        assert r.json()["identity"]["citizen"] == {"id_number": "046090001234", "account_id": "acc-77",
                                                    "name": "Nguyễn Thị Hương"}
        for who in ("desk", "admin", "wallet", "integration"):
            r = await client.get("/api/v1/catalogue/x", headers={**gw.creds[who], **citizen})
            assert r.status_code == 403, who
            assert r.json()["type"].endswith("/citizen-portal-only")
        for bad in ({"X-Citizen-Id": "12345"}, {"X-Citizen-Name": "x"},
                    {"X-Citizen-Id": "046090001234", "X-Citizen-Name": "a%0D%0AX-Evil:%201"}):
            r = await client.get("/api/v1/catalogue/x", headers={**gw.creds["portal"], **bad})
            assert r.status_code == 400, bad
            assert r.headers["content-type"] == "application/problem+json"

"""Staff access tokens are checked against their account on every request: a token for an account that does not
exist, of a deactivated account or from before a password change is refused (401) although its signature is good.
An administrator deactivates and reactivates accounts through the API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import jwt
from gateway.auth import STAFF_AUDIENCE, STAFF_ISSUER

from tests.conftest import DatabaseFactory
from tests.gateway.support import PASSWORD, ROOT, run_gateway


def _forged(secret: str, *, sub: str, role: str = "admin", unit: str | None = None) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE, "iat": now, "exp": now + 600, "sub": sub, "role": role,
              "unit": unit, "name": "nobody"}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


async def test_a_well_signed_token_for_an_account_that_does_not_exist_is_refused(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        forged = _forged(gw.settings.jwt_secret.get_secret_value(), sub="999999")
        for method, path in (("GET", "/api/v1/auth/whoami"), ("GET", "/api/v1/stats/reports"),
                             ("POST", "/api/v1/catalogue/procedures")):
            r = await client.request(method, path, headers=forged, json={})
            assert r.status_code == 401, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith("/unknown-account")
        # The real admin's token still works.
        assert (await client.get("/api/v1/auth/whoami", headers=gw.creds["admin"])).json()["role"] == "admin"


async def test_a_deactivated_account_is_refused_at_once_and_can_be_reactivated(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        desk, admin = gw.creds["desk"], gw.creds["admin"]
        assert (await client.get("/api/v1/dossiers/x", headers=desk)).status_code == 200

        done = await client.post("/api/v1/auth/staff/desk/deactivate", headers=admin)
        assert done.status_code == 200, done.text
        assert done.json() == {"username": "desk", "role": "desk_officer", "unit": "000.00.31.H57", "active": False}
        for path in ("/api/v1/dossiers/x", "/api/v1/auth/whoami"):
            refused = await client.get(path, headers=desk)
            assert refused.status_code == 401, refused.text
            assert refused.json()["type"].endswith("/account-deactivated")
        login = await client.post("/api/v1/auth/token", json={"username": "desk", "password": PASSWORD})
        assert login.status_code == 401

        again = await client.post("/api/v1/auth/staff/desk/reactivate", headers=admin)
        assert again.status_code == 200 and again.json()["active"] is True
        # The token from before the deactivation stays dead; a new login works.
        assert (await client.get("/api/v1/dossiers/x", headers=desk)).status_code == 401
        login = await client.post("/api/v1/auth/token", json={"username": "desk", "password": PASSWORD})
        assert login.status_code == 200
        fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await client.get("/api/v1/dossiers/x", headers=fresh)).status_code == 200


async def test_only_an_admin_deactivates_and_only_known_accounts(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        for who in ("leader", "desk", "portal"):
            r = await client.post("/api/v1/auth/staff/specialist/deactivate", headers=gw.creds[who])
            assert r.status_code == 403, (who, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        assert (await client.post("/api/v1/auth/staff/specialist/deactivate")).status_code == 401
        missing = await client.post("/api/v1/auth/staff/nobody/deactivate", headers=gw.creds["admin"])
        assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
        # An administrator cannot lock themselves out (nobody could reactivate the last admin).
        own = await client.post("/api/v1/auth/staff/admin/deactivate", headers=gw.creds["admin"])
        assert own.status_code == 409, own.text
        # Nothing above changed anything.
        assert (await client.get("/api/v1/routing/x", headers=gw.creds["specialist"])).status_code == 200


async def test_a_password_change_ends_the_sessions_before_it(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        old = gw.creds["leader"]
        wrong = await client.post("/api/v1/auth/password", headers=old,
                                  json={"current_password": "not it", "new_password": "Một-mật-khẩu-mới-42"})
        assert wrong.status_code == 401
        assert (await client.get("/api/v1/stats/reports", headers=old)).status_code == 200

        changed = await client.post("/api/v1/auth/password", headers=old,
                                    json={"current_password": PASSWORD, "new_password": "Một-mật-khẩu-mới-42"})
        assert changed.status_code == 204, changed.text
        refused = await client.get("/api/v1/stats/reports", headers=old)
        assert refused.status_code == 401 and refused.json()["type"].endswith("/token-revoked")
        assert (await client.post("/api/v1/auth/token",
                                  json={"username": "leader", "password": PASSWORD})).status_code == 401
        login = await client.post("/api/v1/auth/token", json={"username": "leader", "password": "Một-mật-khẩu-mới-42"})
        assert login.status_code == 200
        new = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await client.get("/api/v1/stats/reports", headers=new)).status_code == 200

        short = await client.post("/api/v1/auth/password", headers=new,
                                  json={"current_password": "Một-mật-khẩu-mới-42", "new_password": "short"})
        assert short.status_code == 422 and short.headers["content-type"] == "application/problem+json"
        portal = await client.post("/api/v1/auth/password", headers=gw.creds["portal"],
                                   json={"current_password": "x", "new_password": "Một-mật-khẩu-mới-43"})
        assert portal.status_code == 403


async def test_a_password_set_from_the_command_line_ends_the_sessions_on_every_replica(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    # No cache: the change is made by another process, so this replica learns it at its next lookup.
    url = await databases.new("gw")
    async with run_gateway(url, upstreams, staff_account_cache_seconds=0.0) as gw, gw.client() as client:
        old = gw.creds["specialist"]
        assert (await client.get("/api/v1/routing/x", headers=old)).status_code == 200
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gateway'}", "GATEWAY_DATABASE_URL": url}
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "gateway.tools.cli", "set-password", "--username", "specialist", "--password",
             "Mật-khẩu-đặt-lại-77"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        refused = await client.get("/api/v1/routing/x", headers=old)
        assert refused.status_code == 401 and refused.json()["type"].endswith("/token-revoked")
        login = await client.post("/api/v1/auth/token",
                                  json={"username": "specialist", "password": "Mật-khẩu-đặt-lại-77"})
        assert login.status_code == 200

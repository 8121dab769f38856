"""The gateway outside development mode: with real secrets it starts and works, and a token signed with the public
development secret is no token."""

from __future__ import annotations

import time

import jwt
from gateway.auth import STAFF_AUDIENCE, STAFF_ISSUER
from gateway.settings import Settings

from tests.conftest import DatabaseFactory
from tests.gateway.support import run_gateway

REAL = {
    "jwt_secret": "a-real-staff-jwt-secret-nobody-else-knows-0123456789",
    "api_key_pepper": "a-real-api-key-pepper-nobody-else-knows-0123456789",
    "internal_token_secret": "a-real-internal-secret-nobody-else-knows-0123456789",
}


async def test_with_real_secrets_the_gateway_starts_and_refuses_tokens_of_the_public_secret(
    databases: DatabaseFactory, upstreams: dict[str, str]
) -> None:
    public = Settings.model_fields["jwt_secret"].default.get_secret_value()
    now = int(time.time())
    forged = jwt.encode({"iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE, "iat": now, "exp": now + 600, "sub": "1",
                         "role": "admin", "unit": None}, public, algorithm="HS256")  # fmt: skip
    async with run_gateway(await databases.new("gw"), upstreams, dev_mode=False, **REAL) as gw, \
            gw.client() as client:
        assert (await client.get("/api/v1/auth/whoami", headers=gw.creds["admin"])).json()["role"] == "admin"
        # (The test services behind it verify the development internal secret: only the gateway's own pages here.)
        assert (await client.get("/api/v1/auth/whoami", headers=gw.creds["portal"])).json()["role"] == "portal"
        refused = await client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401 and refused.json()["type"].endswith("/invalid-token")

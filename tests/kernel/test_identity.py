"""Verified tokens are remembered (services' internal tokens, the gateway's staff tokens), but never past their expiry
and never for another secret; during a rotation the previous secret is still accepted, and only it."""

from __future__ import annotations

import time

import jwt
import pytest
from catalogue.main import build_app
from catalogue.settings import Settings as CatalogueSettings
from gateway.auth import STAFF_AUDIENCE, STAFF_ISSUER, verify_staff_token
from gateway.settings import Settings as GatewaySettings

from services.errors import Problem
from services.identity import HEADER, Identity, Role, mint, verify
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve

SECRET = "internal-secret-for-the-identity-tests-0123456789"
OTHER = "another-secret-of-the-same-length-0123456789abcd"
THIRD = "a-third-secret-nobody-configured-0123456789abcdef"


def _wait_until(epoch: int) -> None:
    time.sleep(max(0.0, epoch - time.time()) + 0.05)


def test_an_internal_token_verified_before_is_refused_once_it_expires() -> None:
    who = Identity(subject="staff:7", role=Role.SPECIALIST, unit="000.00.31.H57")
    token = mint(who, SECRET, ttl=2)
    assert verify(token, SECRET) == who
    assert verify(token, SECRET) == who  # remembered
    _wait_until(jwt.decode(token, options={"verify_signature": False})["exp"])
    with pytest.raises(Problem) as refused:
        verify(token, SECRET)
    assert refused.value.status == 401 and refused.value.code == "invalid-identity"


def test_a_remembered_internal_token_is_not_accepted_under_another_secret() -> None:
    token = mint(Identity(subject="staff:8", role=Role.ADMIN), SECRET)
    assert verify(token, SECRET).role is Role.ADMIN
    with pytest.raises(Problem) as refused:
        verify(token, OTHER)
    assert refused.value.code == "invalid-identity"
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(Problem):
        verify(tampered, SECRET)


def _staff_token(secret: str, *, ttl: int, role: str = "desk_officer") -> str:
    now = int(time.time())
    claims = {"iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE, "iat": now, "exp": now + ttl, "sub": "42", "role": role,
              "unit": "000.00.31.H57"}  # fmt: skip
    return jwt.encode(claims, secret, algorithm="HS256")


def test_a_staff_token_verified_before_expires_and_stays_bound_to_its_secret() -> None:
    settings = GatewaySettings(jwt_secret=SECRET)
    token = _staff_token(SECRET, ttl=2)
    assert verify_staff_token(token, settings).subject == "staff:42"
    assert verify_staff_token(token, settings).unit == "000.00.31.H57"
    with pytest.raises(Problem) as refused:
        verify_staff_token(token, GatewaySettings(jwt_secret=OTHER))
    assert refused.value.code == "invalid-token"
    # A well-signed token of a system role is refused every time, not only the first.
    portal = _staff_token(SECRET, ttl=60, role="portal")
    for _ in range(2):
        with pytest.raises(Problem) as refused:
            verify_staff_token(portal, settings)
        assert refused.value.code == "invalid-token"
    _wait_until(jwt.decode(token, options={"verify_signature": False})["exp"])
    with pytest.raises(Problem) as refused:
        verify_staff_token(token, settings)
    assert refused.value.code == "token-expired"


def test_during_a_rotation_the_previous_secret_is_accepted_and_no_other() -> None:
    who = Identity(subject="staff:9", role=Role.LEADER, unit="000.00.31.H57")
    assert verify(mint(who, OTHER), SECRET, previous=OTHER) == who
    assert verify(mint(who, SECRET), SECRET, previous=OTHER) == who
    with pytest.raises(Problem) as refused:
        verify(mint(who, THIRD), SECRET, previous=OTHER)
    assert refused.value.code == "invalid-identity"
    with pytest.raises(Problem):  # the previous secret does not revive an expired token
        verify(mint(who, OTHER, ttl=-1), SECRET, previous=OTHER)

    rotating = GatewaySettings(jwt_secret=SECRET, jwt_secret_previous=OTHER)
    assert verify_staff_token(_staff_token(OTHER, ttl=60), rotating).subject == "staff:42"
    with pytest.raises(Problem) as refused:
        verify_staff_token(_staff_token(THIRD, ttl=60), rotating)
    assert refused.value.code == "invalid-token"
    with pytest.raises(Problem) as refused:
        verify_staff_token(_staff_token(OTHER, ttl=-1), rotating)
    assert refused.value.code == "token-expired"


@pytest.mark.kafka
async def test_a_service_mid_rotation_serves_gateways_on_either_secret(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """The rotation of docs/DEPLOYING.md: the services restart with the new secret and the old one as previous while
    the gateway still signs with the old one, then the gateway switches."""
    url = await databases.new("catalogue")
    await migrate("catalogue-svc", url)
    who = Identity(subject="staff:10", role=Role.DESK_OFFICER, unit="000.00.31.H57")

    def settings(**secrets: str) -> CatalogueSettings:
        return CatalogueSettings(
            database_url=url, kafka_bootstrap_servers=broker.bootstrap, topic_prefix=topic_prefix, log_json=False,
            **secrets,  # type: ignore[arg-type]
        )  # fmt: skip

    async def statuses(app_settings: CatalogueSettings, *signed_with: str) -> list[int]:
        async with serve(build_app(app_settings)) as client:
            return [(await client.get("/fields", headers={HEADER: mint(who, secret)})).status_code
                    for secret in signed_with]  # fmt: skip

    rotating = settings(internal_token_secret=SECRET, internal_token_secret_previous=OTHER)
    # An old gateway, a new one, and a token no gateway of this deployment signed.
    assert await statuses(rotating, OTHER, SECRET, THIRD) == [200, 200, 401]
    # Once the previous secret is removed, only the new one.
    assert await statuses(settings(internal_token_secret=SECRET), OTHER, SECRET) == [401, 200]

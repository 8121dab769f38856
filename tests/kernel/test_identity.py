"""Verified tokens are remembered (services' internal tokens, the gateway's staff tokens), but never past their expiry
and never for another secret."""

from __future__ import annotations

import time

import jwt
import pytest
from gateway.auth import STAFF_AUDIENCE, STAFF_ISSUER, verify_staff_token
from gateway.settings import Settings as GatewaySettings

from services.errors import Problem
from services.identity import Identity, Role, mint, verify

SECRET = "internal-secret-for-the-identity-tests-0123456789"
OTHER = "another-secret-of-the-same-length-0123456789abcd"


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

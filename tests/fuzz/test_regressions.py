"""5xx found by fuzzing, kept as plain tests: each request once answered 500."""

from __future__ import annotations

import httpx
import pytest

from tests.fuzz.support import RunningSystem

HUGE = str(10**30)  # past a 64-bit integer: SQLite's and PostgreSQL's drivers raise instead of querying


@pytest.mark.parametrize(("client", "path"), [
    ("desk", f"/api/v1/dossiers/dossiers?page={HUGE}"),   # OFFSET (page - 1) × page_size
    ("admin", f"/api/v1/payments/bills?offset={HUGE}"),
])  # fmt: skip
def test_a_page_past_any_database_integer_is_a_422(system: RunningSystem, client: str, path: str) -> None:
    r = httpx.get(system.gateway + path, headers=system.headers[client], timeout=30)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"][0] == "query"

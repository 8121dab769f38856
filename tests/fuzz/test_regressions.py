"""5xx found by fuzzing and by probing past it, kept as plain tests: each request once answered 500."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.calendar import VN_TZ
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


@pytest.mark.parametrize("change", [{"processing_time": 10**30}, {"fees": [{"code": "LP", "name": "Lệ phí",
                                                                              "kind": "fee", "amount": 10**30}]}])
def test_a_version_nothing_downstream_can_compute_is_refused(system: RunningSystem, change: dict[str, Any]) -> None:
    """A version published with processing_time 10^30 was accepted; every dossier of the procedure then was a 500
    (intake's appointment date and its 32-bit column)."""
    procedure = httpx.get(system.gateway + "/api/v1/catalogue/procedures/1.900001", headers=system.headers["admin"])
    tomorrow = (datetime.now(VN_TZ).date() + timedelta(days=1)).isoformat()
    decision = {"kind": "amended", "number": "9/QĐ-UBND", "signed_on": tomorrow, "effective_from": tomorrow,
                "content": {**procedure.json()["in_force"]["content"], **change}}
    r = httpx.post(system.gateway + "/api/v1/catalogue/procedures/1.900001/decisions", json=decision,
                   headers=system.headers["admin"], timeout=30)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"][:3] == ["body", "content", next(iter(change))]

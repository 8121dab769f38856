"""No log line carries a citizen's id number, phone number or e-mail address: a dossier's life through the whole
system as `make run` starts it (every service and the gateway as processes, JSON logs at INFO, as in production),
its refusals and lookups that fail too, then every line each process wrote is searched for the applicant's data."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Broker
from tests.fuzz.support import running_system

ID_NUMBER = "046187004321"
OTHER_ID_NUMBER = "048190001122"  # another citizen, whom the portal names to read the first one's bill
PHONE = "0935551234"
BAD_PHONE = "0129876543"  # refused: not a mobile number, and still the citizen's
EMAIL = "tran.minh.duc@example.org"
BAD_EMAIL = "tran.minh.duc@@example.org"
#: Every form the data could take in a line: the id numbers, the phones with and without the country code.
SECRETS = [ID_NUMBER, OTHER_ID_NUMBER, PHONE, PHONE[1:], BAD_PHONE, BAD_PHONE[1:], EMAIL, BAD_EMAIL]

DESK_UNIT = "000.00.31.H57"


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)
    return found


def _submission(**applicant: str) -> dict[str, Any]:
    return {
        "procedure_code": "1.900001", "channel": "in_person",
        "applicant": {"kind": "citizen", "id_number": ID_NUMBER, "name": "Trần Minh Đức", "phone": PHONE,
                      "email": EMAIL, "address": "5 Hùng Vương, phường Phú Nhuận, Huế", **applicant},
        "documents": [{"component_code": "TK"}, {"component_code": "CCCD", "form": "copy"}],
    }  # fmt: skip


def _a_dossiers_life(system: Any, c: httpx.Client) -> None:
    passwords = system.credentials.passwords

    def login(username: str) -> dict[str, str]:
        r = c.post("/api/v1/auth/token", json={"username": username, "password": passwords[username]})
        assert r.status_code == 200, (username, r.text)
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def ok(r: httpx.Response, status: int = 200) -> Any:
        assert r.status_code == status, (r.request.method, r.request.url, r.text)
        return r.json()

    desk, portal = login("demo.desk"), system.headers["portal"]
    citizen, other_citizen = {**portal, "X-Citizen-Id": ID_NUMBER}, {**portal, "X-Citizen-Id": OTHER_ID_NUMBER}
    dossiers = "/api/v1/dossiers/dossiers"

    # refused submissions: a phone that is no mobile number, a malformed e-mail, a body that is no JSON
    for bad in (_submission(phone=BAD_PHONE), _submission(email=BAD_EMAIL)):
        problem = ok(c.post(dossiers, json=bad, headers=desk), 422)
        assert problem["errors"], problem
    raw = json.dumps(_submission()).encode()[:-2]
    ok(c.post(dossiers, content=raw, headers={**desk, "content-type": "application/json"}), 422)
    ok(c.post(dossiers, json={**_submission(), "procedure_code": "9.999999"}, headers=desk), 422)

    dossier = ok(c.post(dossiers, json=_submission(), headers={**desk, "Idempotency-Key": "pii-1"}), 201)
    dossier_id, code = dossier["id"], dossier["code"]
    # the same key with another body, and the same dossier again
    ok(c.post(dossiers, json=_submission(phone="0935559999"), headers={**desk, "Idempotency-Key": "pii-1"}), 422)
    ok(c.get(f"{dossiers}/{dossier_id}", headers=desk))
    assert c.get(f"{dossiers}/{dossier_id}/forms/01", headers=desk).status_code == 200
    ok(c.get(dossiers, headers=desk))

    # the citizen tracks it with the phone or the id number, and with a phone that is not theirs
    tracking = f"/api/v1/dossiers/tracking/{code}"
    ok(c.get(tracking, params={"phone": PHONE}, headers=portal))
    ok(c.get(tracking, params={"citizen_id": ID_NUMBER}, headers=portal))
    assert c.get(tracking, params={"phone": BAD_PHONE}, headers=portal).status_code in (404, 422)

    # payment: the bill for the citizen and not for another, a payOS payment, the citizen pays with a wallet
    bill_url = f"/api/v1/payments/dossiers/{dossier_id}/bill"
    bill = _until("the bill", lambda: (r := c.get(bill_url, headers=desk)).status_code == 200 and r.json())
    ok(c.get(bill_url, headers=citizen))
    ok(c.get(bill_url, headers=other_citizen), 404)
    ok(c.post(f"/api/v1/payments/bills/{bill['id']}/payments", json={"provider": "payos"}, headers=citizen), 201)
    qr = ok(c.get(f"/api/v1/payments/bills/{bill['id']}/vietqr", params={"format": "json"}, headers=desk))
    pay = {"provider": "payos", "payload": qr["payload"], "duplicate": 2}
    _until("the payment", lambda: httpx.post(f"{system.providers}/pay", json=pay, timeout=30).status_code == 200)
    _until("paid", lambda: "paid" in json.dumps(ok(c.get(tracking, params={"phone": PHONE}, headers=portal))))

    # routing: along the route to the province and back, and the result returned
    journey = f"/api/v1/routing/journeys/{dossier_id}"

    def accept_hop(unit: str, who: dict[str, str]) -> None:
        def addressed() -> Any:
            j = (r := c.get(journey, headers=who)).status_code == 200 and r.json()
            return j and j.get("pending_unit") == unit and j["pending_hop_id"]

        ok(c.post(f"{journey}/hops/{_until(f'the hop to {unit}', addressed)}/accept", headers=who))

    _until("the journey", lambda: c.get(journey, headers=desk).status_code == 200)
    ok(c.post(f"{journey}/complete", json={}, headers=desk))
    city, province = login("demo.city.justice"), login("demo.province.justice")
    accept_hop("001.00.31.H57", city)
    ok(c.post(f"{journey}/complete", json={"note": "Đủ điều kiện"}, headers=city))
    accept_hop("001.00.00.H57", province)
    ok(c.post(f"{journey}/complete", json={"result": "Giấy khai sinh số 77/2026"}, headers=province))
    ok(c.post(f"{journey}/return", json={}, headers=province))
    accept_hop(DESK_UNIT, desk)
    returned = f"{dossiers}/{dossier_id}/return-result"
    _until("the result returned", lambda: c.post(returned, json={"channel": "in_person"}, headers=desk).is_success)
    assert ok(c.get(f"{dossiers}/{dossier_id}", headers=desk))["status"] == "result_returned"

    # a database that refuses the write: the error logged with the 500 names the statement, not what it carried
    with closing(sqlite3.connect(system.system.var / "intake.db")) as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON dossier BEGIN SELECT RAISE(ABORT, 'disk refused'); END")
        db.commit()
    assert c.post(dossiers, json=_submission(), headers={**desk, "Idempotency-Key": "pii-2"}).status_code == 500


def test_no_log_line_carries_the_applicants_id_number_phone_or_email(broker: Broker, tmp_path: Path) -> None:
    var = tmp_path / "system"
    with running_system(broker.bootstrap, var, env={"MOTCUA_LOG_JSON": "true", "MOTCUA_LOG_LEVEL": "INFO"}) as system:
        with system.client() as c:
            _a_dossiers_life(system, c)

    lines = {log.stem: log.read_text(encoding="utf-8", errors="replace").splitlines() for log in var.glob("*.log")}
    assert {"gateway", "intake", "routing", "payment", "stats"} <= set(lines), sorted(lines)
    # the logs are there to search: the refused submissions' access lines among them
    refused = [json.loads(line) for line in lines["intake"] if line.startswith("{") and '"status": 422' in line]
    assert any(entry["path"] == "/dossiers" for entry in refused), lines["intake"][-20:]
    assert any('"unhandled_error"' in line and "disk refused" in line for line in lines["intake"])
    leaks = [f"{name}: {line}" for name, found in lines.items() for line in found if any(s in line for s in SECRETS)]
    assert leaks == []

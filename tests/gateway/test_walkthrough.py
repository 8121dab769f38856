"""README, "A walk through the system", as written: the whole system as `make run` starts it (sim.system), the
credentials `gateway.tools.cli demo` prints, and every step of the walk through the gateway, the route of step 6 with
the demo staff of each unit on it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from gateway.tools.cli import DEMO_STAFF

from tests.conftest import Broker
from tests.fuzz.support import running_system
from tests.harness import ROOT

DEMO_PROCEDURES = ROOT / "catalogue-svc" / "data" / "demo-procedures.json"


def test_every_unit_named_on_a_demo_route_has_demo_staff() -> None:
    routes = [p.get("LIENTHONG") or [] for p in json.loads(DEMO_PROCEDURES.read_text(encoding="utf-8"))]
    units = {step["MADONVI"] for route in routes for step in route if step.get("MADONVI")}
    assert units, "the demo procedures name no unit on their routes"
    staffed = {unit for _, _, unit, _ in DEMO_STAFF}
    assert units <= staffed, f"no demo staff at {sorted(units - staffed)}"


def _readme_period(today: str | None = None) -> dict[str, str]:
    """Step 7's period as the README's shell lines compute it, on the given business date (default: today)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line for line in readme.splitlines() if line.startswith(("Q=", "PERIOD="))]
    assert len(lines) == 2, lines
    # `date` without -d answers for `today`: the commands' own arithmetic, on any day
    fake = f'date() {{ if [ "$1" = -d ]; then command date "$@"; else command date -d {today} "$@"; fi; }}\n'
    script = (fake if today else "") + "\n".join(lines) + '\necho "$PERIOD"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(urllib.parse.parse_qsl(out.strip()))


def test_the_walkthrough_reports_the_quarter_of_any_day() -> None:
    day = date(2027, 1, 1)
    while day.year == 2027:
        first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        last = (first + timedelta(days=93)).replace(day=1) - timedelta(days=1)
        expected = {"from": first.isoformat(), "to": last.isoformat(), "unit": "000.00.31.H57"}
        assert _readme_period(day.isoformat()) == expected, day
        day += timedelta(days=11)


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def _pay(providers: str, payload: str) -> Any:
    try:
        r = httpx.post(f"{providers}/pay", json={"provider": "payos", "payload": payload, "duplicate": 2}, timeout=30)
    except httpx.TransportError:
        return None  # still starting
    assert r.status_code == 200, r.text
    return r.json()


def test_the_walkthrough_runs_as_written(broker: Broker, tmp_path: Path) -> None:
    with running_system(broker.bootstrap, tmp_path / "system") as system, system.client() as c:
        passwords = system.credentials.passwords
        portal = system.headers["portal"]

        def login(username: str) -> dict[str, str]:
            r = c.post("/api/v1/auth/token", json={"username": username, "password": passwords[username]})
            assert r.status_code == 200, (username, r.text)
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        desk, leader = login("demo.desk"), login("demo.leader")

        def ok(r: httpx.Response, status: int = 200) -> Any:
            assert r.status_code == status, (r.request.method, r.request.url, r.text)
            return r.json() if r.headers.get("content-type", "").startswith("application/json") else r

        # 1. The portal browses the catalogue and the centre's listing.
        ok(c.get("/api/v1/catalogue/procedures", params={"q": "ho tich", "size": 3}, headers=portal))
        ok(c.get("/api/v1/catalogue/listing/000.00.31.H57", headers=portal))

        # 2. The desk receives a dossier in person, and prints form 01.
        body = {
            "procedure_code": "1.900001", "channel": "in_person", "account_assisted": True,
            "applicant": {"kind": "citizen", "id_number": "046095000123", "name": "Nguyễn Thị Hoa",
                          "phone": "0905123456", "address": "12 Lê Lợi, phường Vĩnh Ninh, Huế",
                          "account_id": "DVC-000123"},
            "documents": [{"component_code": "TK"}, {"component_code": "CCCD", "form": "copy"}],
        }  # fmt: skip
        dossier = ok(c.post("/api/v1/dossiers/dossiers", json=body, headers={**desk, "Idempotency-Key": "demo-1"}), 201)
        dossier_id, code = dossier["id"], dossier["code"]
        assert code.startswith("000.00.31.H57-") and dossier["appointment_at"]
        ok(c.get(f"/api/v1/dossiers/dossiers/{dossier_id}/forms/01", headers=desk))

        # 3. Routing has opened the journey and payment the bill; the desk starts a payOS payment and reads its QR.
        journey_url = f"/api/v1/routing/journeys/{dossier_id}"
        journey = _until("the journey", lambda: (r := c.get(journey_url, headers=desk)).status_code == 200 and r.json())
        assert [s["unit"] for s in journey["steps"]] == ["000.00.31.H57", "001.00.31.H57", "001.00.00.H57"]
        bill_url = f"/api/v1/payments/dossiers/{dossier_id}/bill"
        bill = _until("the bill", lambda: (r := c.get(bill_url, headers=desk)).status_code == 200 and r.json())
        ok(c.post(f"/api/v1/payments/bills/{bill['id']}/payments", json={"provider": "payos"}, headers=desk), 201)
        qr = ok(c.get(f"/api/v1/payments/bills/{bill['id']}/vietqr", params={"format": "json"}, headers=desk))

        # 4. The provider simulator plays payOS: its signed webhook, sent twice, to the public callback route.
        paid = _until("the providers' simulator", lambda: _pay(system.providers, qr["payload"]))
        assert [r["status"] for r in paid["responses"]] == [200, 200], paid
        assert sorted(r["body"].get("message", "") for r in paid["responses"]) == ["", "already processed"], paid

        # 5. The citizen tracks the dossier: paid.
        tracking = f"/api/v1/dossiers/tracking/{code}"
        _until("the payment on the tracking page", lambda: "paid" in json.dumps(
            ok(c.get(tracking, params={"phone": "0905123456"}, headers=portal))))

        # 6. Along the route: the desk's unit completes the first step; each agency accepts the hop addressed to it and
        # completes its step; the last one sends the result back, the desk accepts it and returns it.
        def accept_hop(unit: str, who: dict[str, str]) -> None:
            def addressed() -> int | None:
                r = c.get(journey_url, headers=who)
                j = r.json() if r.status_code == 200 else {}
                return j.get("pending_hop_id") if j.get("pending_unit") == unit else None

            ok(c.post(f"{journey_url}/hops/{_until(f'the hop to {unit}', addressed)}/accept", headers=who))

        ok(c.post(f"{journey_url}/complete", json={}, headers=desk))
        city, province = login("demo.city.justice"), login("demo.province.justice")
        accept_hop("001.00.31.H57", city)
        ok(c.post(f"{journey_url}/complete", json={"note": "Đủ điều kiện, trình Sở"}, headers=city))
        accept_hop("001.00.00.H57", province)
        ok(c.post(f"{journey_url}/complete", json={"result": "Giấy khai sinh số 123/2026"}, headers=province))
        ok(c.post(f"{journey_url}/return", json={}, headers=province))
        accept_hop("000.00.31.H57", desk)
        returned = _until("the result at the desk", lambda: (r := c.post(
            f"/api/v1/dossiers/dossiers/{dossier_id}/return-result", json={"channel": "in_person"}, headers=desk
        )).status_code == 200 and r.json())
        assert returned["status"] == "result_returned"

        # 7. The leader reads the report of this quarter, which counts the dossier: JSON, Excel.
        period = _readme_period()
        today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
        assert period["from"] <= today <= period["to"], period

        def received_this_quarter() -> int:
            return int(ok(c.get("/api/v1/stats/reports/quarterly", params=period, headers=leader))["received"]["total"])

        _until("the dossier in this quarter's report", lambda: received_this_quarter() == 1)
        xlsx = c.get("/api/v1/stats/reports/report.xlsx", params=period, headers=leader)
        assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")

"""Every operation of the gateway's /openapi.json × every kind of caller, on the real system (gateway and the six
services on the real broker and databases), with real objects: a dossier of citizen A received online at a ward, its
journey (ward → city department → province department), its bill and a payment. Each answer must be the one the
row of services/policy.py gives for that caller and that object; an operation without a row, or without a way to
call it here, fails the test.

Reads are called first (every caller at once), then the writes, ordered so that what an allowed caller changes does
not decide a later cell (the last ones close the dossier); the callers a write must refuse go first, all at once.
Writes carry bodies that are valid in form, so that a refusal for the object (403) is not hidden behind a
validation error.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from gateway.auth import STAFF_AUDIENCE, STAFF_ISSUER

from services import policy
from services.policy import Caller, On
from tests.authz.system import (
    CITIZEN_A,
    CITIZEN_B,
    CITY_JUSTICE,
    OTHER_PROVINCE,
    PHONE_A,
    PROCEDURE,
    PROVINCE_JUSTICE,
    STAFF_ROLES,
    STAFF_UNITS,
    WARD,
    System,
    running_system,
)
from tests.conftest import Broker, DatabaseFactory
from tests.gateway.support import PASSWORD

PDF = b"%PDF-1.4\n% matrix test\n" + b"0" * 200


@dataclass(frozen=True)
class Who:
    name: str
    kind: Caller | None  # None: no valid credentials
    unit: str | None = None
    citizen: str | None = None


@dataclass
class Target:
    """What an operation acts on, for the "on what" of its row: the units it belongs to (or passes through) and the
    citizen whose it is. None: no particular object (the caller's own list, a new object)."""

    units: set[str] | None = None
    citizen: str | None = None


@dataclass
class Call:
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    target: Target = field(default_factory=Target)
    #: Statuses an allowed caller may get (None: any but 401, 403, 405 and 5xx; GET: 200).
    ok: set[int] | None = None


@dataclass
class World:
    dossier: str
    code: str
    bill: str
    payment: str
    parents: dict[str, str | None]


def callers(system: System) -> list[Who]:
    who = [
        Who("anonymous", None), Who("forged", None), Who("expired", None), Who("wrong secret", None),
        Who("deactivated", None),
        Who("portal", Caller.PORTAL), Who("citizen A", Caller.CITIZEN, citizen=CITIZEN_A),
        Who("citizen B", Caller.CITIZEN, citizen=CITIZEN_B), Who("wallet", Caller.WALLET),
        Who("integration", Caller.INTEGRATION), Who("admin", Caller.ADMIN),
    ]
    for place, unit in STAFF_UNITS.items():
        for kind, role in STAFF_ROLES.items():
            who.append(Who(f"{kind}@{place}", Caller(role.value), unit=unit))
    return who


def bad_credentials(system: System) -> dict[str, dict[str, str]]:
    secret = system.gateway.settings.jwt_secret.get_secret_value()
    now = int(time.time())
    claims = {"iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE, "iat": now, "exp": now + 300, "sub": "staff:1",
              "role": "admin", "unit": None}
    expired = {**claims, "iat": now - 1000, "exp": now - 100}
    return {
        "anonymous": {},
        "forged": {"Authorization": f"Bearer {jwt.encode(claims, key=None, algorithm='none')}"},  # type: ignore[arg-type]
        "expired": {"Authorization": f"Bearer {jwt.encode(expired, secret, algorithm='HS256')}"},
        "wrong secret": {"Authorization": f"Bearer {jwt.encode(claims, 'not-the-secret-' * 3, algorithm='HS256')}"},
        "deactivated": system.creds["deactivated"],
    }


def expected(row: policy.Operation, who: Who, call: Call, world: World) -> str:
    """"unauthenticated", "denied" or "allowed"."""
    if Caller.ANYONE in row.grants:
        return "allowed"
    if who.kind is None:
        return "unauthenticated"
    scope = row.grants.get(who.kind)
    if scope is None:
        return "denied"
    target = call.target
    if scope in (On.ANY, On.SELF, On.SIGNED):
        return "allowed"
    if scope is On.OWN_CITIZEN:
        return "allowed" if target.citizen in (None, who.citizen) else "denied"
    if who.unit is None:
        return "denied"
    if target.units is None:
        return "allowed"
    if scope is On.OWN_UNIT:
        return "allowed" if who.unit in target.units else "denied"
    assert scope is On.SUBTREE
    return "allowed" if policy.reaches(world.parents, who.unit, target.units) else "denied"


def recipes(world: World) -> dict[tuple[str, str], Call]:
    """How to call each operation here, and on what."""
    d = {"dossier_id": world.dossier}
    dossier = Target({WARD}, CITIZEN_A)
    journey = Target({WARD, CITY_JUSTICE, PROVINCE_JUSTICE})
    holder = Target({WARD})  # routing's commands: the unit holding the dossier
    bill = Target({WARD}, CITIZEN_A)
    period = {"from": "2026-01-01", "to": "2026-12-31", "unit": WARD}
    C, D, R, P, S, A = "/api/v1/catalogue", "/api/v1/dossiers", "/api/v1/routing", "/api/v1/payments", \
        "/api/v1/stats", "/api/v1/auth"
    K = "/api/v1/callbacks"  # the providers' callbacks: anyone, with a signature that does not match
    calls: dict[tuple[str, str], Call] = {
        ("GET", "/healthz"): Call(),
        ("POST", f"{A}/token"): Call(json={"username": "desk.ward", "password": PASSWORD}, ok={200}),
        ("GET", f"{A}/whoami"): Call(),
        ("POST", f"{A}/staff/{{username}}/deactivate"): Call(path={"username": "nobody"}, ok={404}),
        ("POST", f"{A}/staff/{{username}}/reactivate"): Call(path={"username": "nobody"}, ok={404}),
        ("GET", f"{C}/fields"): Call(),
        ("GET", f"{C}/procedures"): Call(query={"q": "khai sinh"}),
        ("GET", f"{C}/procedures/{{code}}"): Call(path={"code": PROCEDURE}),
        ("GET", f"{C}/procedures/{{code}}/versions"): Call(path={"code": PROCEDURE}),
        ("GET", f"{C}/procedures/{{code}}/in-force"): Call(path={"code": PROCEDURE}),
        ("GET", f"{C}/units"): Call(),
        ("GET", f"{C}/units/{{agency_id}}"): Call(path={"agency_id": WARD}),
        ("GET", f"{C}/calendar/deadline"): Call(query={"received_at": "2026-03-02T09:00:00+07:00", "days": "3"}),
        ("GET", f"{C}/calendar/{{year}}"): Call(path={"year": "2026"}, ok={200, 404}),
        ("GET", f"{C}/listing/{{agency_id}}"): Call(path={"agency_id": WARD}),
        ("GET", f"{C}/imports/{{run_id}}"): Call(path={"run_id": "no-such-run"}, ok={404}),
        ("GET", f"{D}/dossiers"): Call(),
        ("GET", f"{D}/dossiers/{{dossier_id}}"): Call(path=d, target=dossier),
        ("GET", f"{D}/dossiers/{{dossier_id}}/forms/{{form}}"): Call(path={**d, "form": "01"}, target=dossier),
        ("GET", f"{D}/dossiers/{{dossier_id}}/documents/{{index}}/content"): Call(path={**d, "index": "1"},
                                                                                   target=dossier),
        ("GET", f"{D}/tracking/{{code}}"): Call(path={"code": world.code}, query={"phone": PHONE_A},
                                                target=Target({WARD})),
        ("GET", f"{D}/counts"): Call(query=period, target=Target({WARD})),
        ("GET", f"{R}/journeys/{{dossier_id}}"): Call(path=d, target=journey),
        ("GET", f"{R}/journeys/{{dossier_id}}/actions"): Call(path=d, target=journey),
        ("GET", f"{R}/journeys/{{dossier_id}}/forms/04"): Call(path=d, target=journey, ok={404}),  # not extended
        ("GET", f"{R}/journeys/{{dossier_id}}/forms/05"): Call(path=d, target=journey),
        ("GET", f"{R}/worklists/{{unit}}"): Call(path={"unit": WARD}, target=Target({WARD})),
        ("GET", f"{K}/vnpay"): Call(query={"vnp_TxnRef": "1", "vnp_SecureHash": "0" * 128}),  # 200, RspCode 97
        ("GET", f"{K}/vnpay/return"): Call(query={"vnp_TxnRef": "1"}, ok={400}),  # the page: "not authentic"
        ("GET", f"{P}/bills"): Call(),
        ("GET", f"{P}/bills/{{bill_id}}"): Call(path={"bill_id": world.bill}, target=bill),
        ("GET", f"{P}/dossiers/{{dossier_id}}/bill"): Call(path=d, target=bill),
        ("GET", f"{P}/bills/{{bill_id}}/vietqr"): Call(path={"bill_id": world.bill}, target=bill),
        ("GET", f"{P}/payments/{{payment_id}}"): Call(path={"payment_id": world.payment}, target=bill),
        ("GET", f"{P}/bills/{{bill_id}}/ledger"): Call(path={"bill_id": world.bill}, target=bill),
        ("GET", f"{P}/reconciliations/{{settlement_id}}"): Call(path={"settlement_id": "no-such"}, ok={404}),
        ("GET", "/api/v1/deliveries"): Call(query={"state": "parked"}),
        ("GET", "/api/v1/deliveries/{delivery_id}"): Call(path={"delivery_id": "999999"}, ok={404}),
        **{("GET", f"{S}/reports/{r}"): Call(query=period, target=Target({WARD}))
           for r in ("quarterly", "ii06a", "ii06a.csv", "indicators", "report.xlsx", "page")},
        # -- writes, in this order ---------------------------------------------------------------------------------
        # catalogue: administrators only, refused before the body is read; an incomplete body for them
        ("POST", f"{C}/fields"): Call(json={"code": "G01-HT", "name": "Hộ tịch"}),
        ("POST", f"{C}/procedures/{{code}}/decisions"): Call(path={"code": PROCEDURE}, json={}, ok={422}),
        ("PUT", f"{C}/procedures/{{code}}/units"): Call(path={"code": PROCEDURE}, json={}, ok={422}),
        ("POST", f"{C}/units"): Call(json={}, ok={422}),
        ("POST", f"{C}/units/merge"): Call(json={}, ok={422}),
        ("PUT", f"{C}/calendar/{{year}}"): Call(path={"year": "2026"}, json={}, ok={422}),
        ("POST", f"{C}/imports"): Call(content=b"not an export", headers={"content-type": "application/json"}),
        # routing: staff of the holding unit (the ward)
        ("POST", f"{R}/journeys/{{dossier_id}}/assign"): Call(path=d, json={"officer": "officer-1"}, target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/supplement"): Call(path=d, json={"missing": ["TK"], "reason": "mờ"},
                                                                    target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/resume"): Call(path=d, json={}, target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/extend"): Call(path=d, json={"new_date": "2099-01-05",
                                                                             "reason": "cần xác minh"}, target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/transfer"): Call(path=d, json={"to_unit": OTHER_PROVINCE},
                                                                  target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/hops/{{hop_id}}/accept"): Call(path={**d, "hop_id": "999999"},
                                                                              target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/hops/{{hop_id}}/reject"): Call(path={**d, "hop_id": "999999"},
                                                                              json={"reason": "sai"}, target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/complete"): Call(path=d, json={}, target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/return"): Call(path=d, json={}, target=holder),
        ("POST", f"{R}/journeys/{{dossier_id}}/refuse"): Call(path=d, json={"reasons": ["không đủ"]}, target=holder),
        # payments
        ("POST", f"{K}/payos"): Call(json={"code": "00", "data": {}, "signature": "0" * 64}),
        ("POST", f"{K}/momo"): Call(json={"orderId": "x", "signature": "0" * 64}),
        ("POST", f"{K}/zalopay"): Call(json={"data": "{}", "mac": "0" * 64, "type": 1}),
        ("POST", f"{P}/bills/{{bill_id}}/payments"): Call(path={"bill_id": world.bill}, json={"provider": "payos"},
                                                         target=bill),
        ("POST", f"{P}/payments/{{payment_id}}/refunds"): Call(path={"payment_id": world.payment},
                                                              json={"amount": 1000, "reason": "thu thừa"},
                                                              target=Target({WARD})),
        ("POST", f"{P}/payments/expire"): Call(),
        ("POST", f"{P}/reconciliations/{{provider}}"): Call(path={"provider": "payos"}, query={"date": "2026-01-01"},
                                                           content=b"", headers={"content-type": "text/csv"}),
        # connect-svc: nothing is parked here
        ("POST", "/api/v1/deliveries/{delivery_id}/resend"): Call(path={"delivery_id": "999999"}, ok={404}),
        # intake
        ("POST", f"{D}/uploads"): Call(files={"file": ("a.pdf", PDF, "application/pdf")}),
        ("POST", f"{D}/dossiers"): Call(json=_submission(CITIZEN_A), target=Target({WARD}, CITIZEN_A)),
        ("POST", f"{D}/accounts/assisted"): Call(json={"account_id": "DVC-77", "dossier_id": world.dossier},
                                                 target=Target({WARD})),
        ("POST", f"{D}/dossiers/{{dossier_id}}/supplement-request"): Call(path=d, json={"missing": ["TK"],
                                                                                         "reason": "mờ"},
                                                                            target=dossier),
        ("POST", f"{D}/dossiers/{{dossier_id}}/supplement"): Call(path=d, json={"documents": [
            {"component_code": "TK", "upload_id": "00000000-0000-0000-0000-000000000000"}]}, target=dossier),
        ("POST", f"{D}/dossiers/{{dossier_id}}/return-result"): Call(path=d, json={}, target=dossier),
        ("POST", f"{D}/dossiers/{{dossier_id}}/withdraw"): Call(path=d, json={"reason": "không cần nữa"},
                                                                target=dossier),
        ("POST", f"{D}/dossiers/{{dossier_id}}/refuse"): Call(path=d, json={"reasons": ["không đủ"]}, target=dossier),
        # last: a staff member's new password ends their sessions
        ("POST", f"{A}/password"): Call(json={"current_password": PASSWORD, "new_password": PASSWORD + "-new"},
                                        ok={204}),
    }
    return calls


def _submission(citizen: str) -> dict[str, Any]:
    return {
        "procedure_code": PROCEDURE, "channel": "online", "receiving_unit": WARD,
        "applicant": {"kind": "citizen", "id_number": citizen, "name": "Nguyễn Thị Hoa", "phone": PHONE_A,
                      "address": "12 Lê Lợi, Huế"},
        "documents": [{"component_code": "TK"}],
    }


async def _until(fetch: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r: httpx.Response = await fetch()
        if r.status_code == 200:
            return dict(r.json())
        assert asyncio.get_running_loop().time() < deadline, f"{what}: {r.status_code} {r.text}"
        await asyncio.sleep(0.1)


async def build_world(system: System) -> World:
    c, creds = system.client, system.creds
    up = await c.post("/api/v1/dossiers/uploads", files={"file": ("tk.pdf", PDF, "application/pdf")},
                      headers=creds["citizen A"])
    assert up.status_code == 201, up.text
    body = _submission(CITIZEN_A)
    body["documents"] = [{"component_code": "TK", "upload_id": up.json()["id"]}]
    r = await c.post("/api/v1/dossiers/dossiers", json=body, headers=creds["citizen A"])
    assert r.status_code == 201, r.text
    dossier, code = r.json()["id"], r.json()["code"]
    admin = creds["admin"]
    await _until(lambda: c.get(f"/api/v1/routing/journeys/{dossier}", headers=admin), "journey")
    bill = await _until(lambda: c.get(f"/api/v1/payments/dossiers/{dossier}/bill", headers=admin), "bill")
    payment = await c.post(f"/api/v1/payments/bills/{bill['id']}/payments", json={"provider": "payos"},
                           headers=creds["citizen A"])
    assert payment.status_code == 201, payment.text
    await _until(lambda: c.get("/api/v1/stats/reports/quarterly", params={"from": "2026-01-01", "to": "2026-12-31",
                                                                          "unit": WARD}, headers=admin), "stats")
    units = (await c.get("/api/v1/catalogue/units", headers=admin)).json()
    parents = {u["agency_id"]: u.get("parent_id") for u in units}
    return World(dossier, code, bill["id"], payment.json()["id"], parents)


def verdict(outcome: str, who: Who, status: int, row: policy.Operation, call: Call) -> bool:
    if outcome == "unauthenticated":
        return status == 401
    if outcome == "denied":
        hidden = {404} if who.kind in (Caller.PORTAL, Caller.CITIZEN) else set()
        not_allowed = {405} if who.kind is Caller.WALLET else set()
        return status in {403} | hidden | not_allowed
    if call.ok is not None:
        return status in call.ok
    if row.method == "GET":
        return status == 200
    scope = (row.grants.get(who.kind) if who.kind else None) or row.grants.get(Caller.ANYONE)
    if scope is On.SIGNED:  # payment-svc refuses the missing signature in the provider's own format
        return status not in (403, 405) and status < 500
    refused = {401, 403, 405} | ({404} if scope is On.OWN_CITIZEN else set())
    return status not in refused and status < 500


async def test_every_operation_as_every_caller(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with running_system(databases, broker, topic_prefix, tmp_path) as system:
        published = (await system.client.get("/openapi.json")).json()
        assert "x-motcua-unavailable" not in published
        operations = {
            (method.upper(), path)
            for path, item in published["paths"].items()
            for method in item
            if method in ("get", "post", "put", "patch", "delete")
        }
        rows = {(o.method, o.path): o for o in policy.OPERATIONS}
        assert operations - rows.keys() == set(), "operations without a row in services/policy.py"
        world = await build_world(system)
        calls = recipes(world)
        assert operations - calls.keys() == set(), "operations this test does not know how to call"
        headers = {**bad_credentials(system), **system.creds}
        order = sorted(calls, key=lambda op: (op[0] != "GET", list(calls).index(op)))
        failures = []
        cells = 0
        everyone = callers(system)

        async def cell(method: str, template: str, who: Who) -> None:
            row, call = rows[(method, template)], calls[(method, template)]
            path = template.format(**call.path)
            r = await system.client.request(
                method, path, params=call.query, json=call.json, files=call.files, content=call.content,
                headers={**headers[who.name], **call.headers},
            )
            outcome = expected(row, who, call, world)
            if not verdict(outcome, who, r.status_code, row, call):
                failures.append(f"{who.name:16} {method} {template}: {r.status_code}, expected {outcome} "
                                f"{r.text[:160]}")
            elif r.status_code >= 400 and On.SIGNED not in row.grants.values():  # callbacks: the provider's format
                assert r.headers["content-type"] == "application/problem+json", (who.name, path, r.text)

        for method, template in order:
            row, call = rows[(method, template)], calls[(method, template)]
            allowed = [who for who in everyone if expected(row, who, call, world) == "allowed"]
            # Reads change nothing, nor do refused writes: those callers all at once. What one allowed writer
            # changes may decide the next one's answer: those one after the other, after the refused ones.
            at_once = everyone if method == "GET" else [who for who in everyone if who not in allowed]
            await asyncio.gather(*(cell(method, template, who) for who in at_once))
            for who in allowed if method != "GET" else ():
                await cell(method, template, who)
            cells += len(everyone)
        assert cells == len(order) * len(callers(system))
        assert not failures, f"{len(failures)} of {cells} cells differ from services/policy.py:\n" + "\n".join(failures)

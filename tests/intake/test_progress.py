"""Routing's and payment's events keep the dossier's status, history and (after the one extension or a restart
after a supplement) appointment date current."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from services.contracts import payment as pay
from services.contracts import routing as r
from services.topics import PAYMENT_PAYMENTS, ROUTING_JOURNEYS
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import PHONE, WARD, intake_env, submission
from tests.support import publish


async def test_routing_and_payment_events_update_the_dossier(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        at = datetime.fromisoformat(d["received_at"]) + timedelta(minutes=5)
        due = datetime.fromisoformat(d["appointment_at"])
        new_due = due + timedelta(days=7)
        ref = {"dossier_id": d["id"], "code": d["code"]}
        events = [
            (
                ROUTING_JOURNEYS.name,
                d["id"],
                r.JourneyStarted(
                    **ref,
                    at=at,
                    status=r.NationalStatus.PROCESSING,
                    procedure_code=d["procedure_code"],
                    procedure_version=1,
                    field_code="G03-HT01",
                    receiving_unit=WARD,
                    inter_level=False,
                    steps=[],
                    due_at=due,
                ),
            ),
            (
                PAYMENT_PAYMENTS.name,
                d["id"],
                pay.BillRequested(
                    bill_id="b1",
                    dossier_id=d["id"],
                    dossier_code=d["code"],
                    receiving_unit=WARD,
                    # A second after the journey started: two topics' events of the same instant have no defined
                    # order in the history (they are consumed in whichever order their partitions are polled).
                    at=at + timedelta(seconds=1),
                    procedure_code=d["procedure_code"],
                    field_code="G03-HT01",
                    dossier_channel="in_person",
                    amount=8000,
                ),
            ),
            (
                ROUTING_JOURNEYS.name,
                d["id"],
                r.JourneyExtended(
                    **ref,
                    at=at + timedelta(days=1),
                    status=r.NationalStatus.PROCESSING,
                    unit=WARD,
                    reason="Cần xác minh thêm",
                    previous_appointment_at=due,
                    appointment_at=new_due,
                    appointment_date=new_due.date(),
                ),
            ),
            (
                ROUTING_JOURNEYS.name,
                d["id"],
                r.JourneyProcessed(
                    **ref,
                    at=at + timedelta(days=2),
                    status=r.NationalStatus.PROCESSED,
                    unit=WARD,
                    outcome=r.Outcome.APPROVED,
                    result="Giấy khai sinh",
                    due_at=new_due,
                    late=False,
                ),
            ),
        ]
        await publish(broker.bootstrap, env.settings.topic_prefix, events, source="/routing")

        track = None
        for _ in range(300):
            track = (await c.get(f"/tracking/{d['code']}", params={"phone": PHONE}, headers=desk)).json()
            if len(track["steps"]) >= 5:
                break
            await asyncio.sleep(0.1)
        assert track is not None
        assert [s["action"] for s in track["steps"]] == [
            "received",
            "handed_over",
            "payment_requested",
            "extended",
            "processed_approved",
        ], track["steps"]
        assert track["status"] == "processed" and track["national_status"] == 9
        assert datetime.fromisoformat(track["appointment_at"]) == new_due

        r2 = await c.post(f"/dossiers/{d['id']}/return-result", json={"channel": "in_person"}, headers=desk)
        assert r2.status_code == 200 and r2.json()["status"] == "result_returned"


async def test_routing_supplement_request_is_completed_at_intake(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        at = datetime.fromisoformat(d["received_at"]) + timedelta(hours=1)
        ask = r.SupplementRequested(
            dossier_id=d["id"],
            code=d["code"],
            at=at,
            status=r.NationalStatus.SUPPLEMENT_REQUESTED,
            unit=WARD,
            receiving_unit=WARD,
            missing=["GCS"],
            reason="Giấy chứng sinh bị mờ",
        )
        await publish(broker.bootstrap, topic_prefix, [(ROUTING_JOURNEYS.name, d["id"], ask)], source="/r")
        for _ in range(300):
            got = (await c.get(f"/dossiers/{d['id']}", headers=desk)).json()
            if got["status"] == "supplement_requested":
                break
            await asyncio.sleep(0.1)
        assert got["missing"] == [{"code": "GCS", "name": "Giấy chứng sinh"}]
        assert got["supplement_reason"] == "Giấy chứng sinh bị mờ"
        r2 = await c.post(
            f"/dossiers/{d['id']}/supplement", json={"documents": [{"component_code": "GCS"}]}, headers=desk
        )
        assert r2.status_code == 200 and r2.json()["status"] == "received"
        assert len(r2.json()["documents"]) == 3


async def test_supplement_handed_in_at_the_agency_moves_the_appointment(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        at = datetime.fromisoformat(d["received_at"]) + timedelta(hours=1)
        restarted = datetime.fromisoformat(d["appointment_at"]) + timedelta(days=6)
        ref = {"dossier_id": d["id"], "code": d["code"]}
        events = [
            r.SupplementRequested(
                **ref, at=at, status=r.NationalStatus.SUPPLEMENT_REQUESTED, unit=WARD, receiving_unit=WARD,
                missing=["GCS"], reason="Giấy chứng sinh bị mờ",
            ),
            r.JourneyResumed(
                **ref, at=at + timedelta(days=6), status=r.NationalStatus.PROCESSING, unit=WARD,
                paused_working_days=4, due_at=restarted,
            ),
        ]
        batch = [(ROUTING_JOURNEYS.name, d["id"], e) for e in events]
        await publish(broker.bootstrap, env.settings.topic_prefix, batch, source="/r")
        for _ in range(300):
            track = (await c.get(f"/tracking/{d['code']}", params={"phone": PHONE}, headers=desk)).json()
            if any(s["action"] == "resumed" for s in track["steps"]):
                break
            await asyncio.sleep(0.1)
        assert [s["action"] for s in track["steps"]][-2:] == ["supplement_requested", "resumed"]
        assert datetime.fromisoformat(track["appointment_at"]) == restarted
        got = (await c.get(f"/dossiers/{d['id']}", headers=desk)).json()
        assert got["status"] == "processing"
        assert datetime.fromisoformat(got["appointment_at"]) == restarted

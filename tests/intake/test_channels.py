"""Submission through the three channels, completeness outcomes, and the events they put on the topic."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.topics import INTAKE_DOSSIERS
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import CITIZEN_ID, PHONE, WARD, intake_env, read_events, result_at_desk, submission

PDF = b"%PDF-1.4\n% test document\n" + b"0" * 200


async def test_three_channels_receipts_and_events(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c = env.client
        # in person at the desk, with an account the desk helped create
        r = await c.post("/dossiers", json=submission(account_assisted=True), headers=env.desk())
        assert r.status_code == 201, r.text
        in_person = r.json()
        assert re.fullmatch(rf"{re.escape(WARD)}-\d{{6}}-0001", in_person["code"])
        assert in_person["status"] == "received" and in_person["national_status"] == 2
        assert in_person["appointment_at"] is not None and in_person["forms"]["01"]
        assert [d["component_code"] for d in in_person["documents"]] == ["TK", "GCS"]

        # postal
        r = await c.post("/dossiers", json=submission(channel="postal"), headers=env.desk())
        assert r.status_code == 201, r.text
        postal = r.json()
        assert postal["code"].endswith("-0002") and postal["channel"] == "postal"

        # online from the portal: the documents' files first
        uploads = {}
        for comp in ("TK", "GCS"):
            up = await c.post("/uploads", files={"file": (f"{comp}.pdf", PDF, "application/pdf")}, headers=env.portal())
            assert up.status_code == 201, up.text
            uploads[comp] = up.json()["id"]
        body = submission(channel="online", uploads=uploads, receiving_unit=WARD)
        r = await c.post("/dossiers", json=body, headers=env.portal())
        assert r.status_code == 201, r.text
        online = r.json()
        assert online["code"].endswith("-0003") and online["channel"] == "online"
        assert all(d["form"] == "electronic" and d["sha256"] for d in online["documents"])
        assert (tmp_path / "files").exists()
        content = await c.get(f"/dossiers/{online['id']}/documents/1/content", headers=env.portal())
        assert content.status_code == 200 and content.content == PDF
        assert content.headers["content-type"] == "application/pdf"
        assert (await c.get(f"/dossiers/{online['id']}/documents/1/content", headers=env.desk())).status_code == 200
        assert (await c.get(f"/dossiers/{online['id']}/documents/3/content", headers=env.desk())).status_code == 404

        # the online dossier without its files is refused at the edge
        r = await c.post("/dossiers", json=submission(channel="online", receiving_unit=WARD), headers=env.portal())
        assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "upload_id"

        # the receipt (form 01) with the QR code
        form = await c.get(in_person["forms"]["01"], headers=env.desk())
        assert form.status_code == 200 and "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in form.text
        assert "<svg" in form.text and in_person["code"] in form.text

        # result returned (once routing brought it back to the desk) closes the dossier; withdrawal of a closed
        # dossier is a conflict
        await result_at_desk(env, postal)
        r = await c.post(f"/dossiers/{postal['id']}/return-result", json={"channel": "postal"}, headers=env.desk())
        assert r.status_code == 200 and r.json()["status"] == "result_returned"
        r = await c.post(f"/dossiers/{postal['id']}/withdraw", json={"reason": "thôi"}, headers=env.desk())
        assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"

        # the portal withdraws its citizen's dossier
        r = await c.post(f"/dossiers/{online['id']}/withdraw", json={"reason": "Nộp nhầm"}, headers=env.portal())
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"

        events = await read_events(broker.bootstrap, INTAKE_DOSSIERS.full_name(topic_prefix), 6)
        types = sorted(e.type.split(".")[-2] for _, e in events)
        assert types == sorted(["assisted", "received", "received", "received", "result_returned", "withdrawn"]), types
        received = [e for _, e in events if e.type == "vn.motcua.intake.dossier.received.v1"]
        assert {e.data["channel"] for e in received if e.data} == {"in_person", "postal", "online"}
        first = next(e for e in received if e.subject == in_person["id"])
        assert first.data is not None
        assert first.data["fees"] == [{"code": "LP1", "name": "Lệ phí", "amount": 8000}]
        assert first.data["appointment_at"] and first.data["receiving_unit"] == WARD
        # no personal data on the topic
        for raw, _ in events:
            text = raw.decode()
            assert CITIZEN_ID not in text and PHONE not in text and "Nguyễn" not in text and "example.vn" not in text


async def test_completeness_supplement_refusal(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        # missing a mandatory component: rejected by default, nothing stored, no number used
        r = await c.post("/dossiers", json=submission(documents=["TK"]), headers=desk)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["type"].endswith("/missing-documents") and "GCS" in problem["detail"], problem
        assert [e["code"] for e in problem["errors"]] == ["GCS"]
        assert (await c.get("/dossiers", headers=desk)).json()["total"] == 0

        # the desk issues form 02 instead
        r = await c.post(
            "/dossiers", json=submission(documents=["TK"], on_incomplete="request_supplement"), headers=desk
        )
        assert r.status_code == 201, r.text
        d = r.json()
        assert d["code"].endswith("-0001")
        assert d["status"] == "supplement_requested" and d["national_status"] == 5
        assert d["appointment_at"] is None and d["received_at"] is None
        assert d["missing"] == [{"code": "GCS", "name": "Giấy chứng sinh"}]
        form02 = await c.get(d["forms"]["02"], headers=desk)
        assert form02.status_code == 200 and "PHIẾU YÊU CẦU BỔ SUNG" in form02.text and "Giấy chứng sinh" in form02.text
        assert (await c.get(f"/dossiers/{d['id']}/forms/01", headers=desk)).status_code == 409

        # an incomplete supplement is refused; the complete one receives the dossier and starts the clock
        r = await c.post(
            f"/dossiers/{d['id']}/supplement", json={"documents": [{"component_code": "UQ"}]}, headers=desk
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "GCS"
        r = await c.post(
            f"/dossiers/{d['id']}/supplement", json={"documents": [{"component_code": "GCS"}]}, headers=desk
        )
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["status"] == "received" and done["appointment_at"] and done["received_at"]

        # after receipt the desk finds a deficient document: form 02 again, the clock restarts on completion
        r = await c.post(
            f"/dossiers/{d['id']}/supplement-request",
            json={"missing": ["TK"], "reason": "Tờ khai thiếu chữ ký"},
            headers=desk,
        )
        assert r.status_code == 200 and r.json()["status"] == "supplement_requested"
        r = await c.post(
            f"/dossiers/{d['id']}/supplement", json={"documents": [{"component_code": "TK"}]}, headers=desk
        )
        assert r.status_code == 200 and r.json()["status"] == "received"

        # refusal (form 03) with reasons
        r = await c.post("/dossiers", json=submission(), headers=desk)
        other = r.json()
        r = await c.post(
            f"/dossiers/{other['id']}/refuse", json={"reasons": ["Không thuộc thẩm quyền giải quyết"]}, headers=desk
        )
        assert r.status_code == 200 and r.json()["status"] == "refused" and r.json()["national_status"] == 3
        form03 = await c.get(f"/dossiers/{other['id']}/forms/03", headers=desk)
        assert "PHIẾU TỪ CHỐI" in form03.text and "Không thuộc thẩm quyền giải quyết" in form03.text
        r = await c.post(f"/dossiers/{other['id']}/withdraw", json={"reason": "x"}, headers=desk)
        assert r.status_code == 409

        events = await read_events(broker.bootstrap, INTAKE_DOSSIERS.full_name(topic_prefix), 6)
        kinds = [e.type.removeprefix("vn.motcua.intake.dossier.") for _, e in events if e.subject == d["id"]]
        assert kinds == [
            "supplement_requested.v1",
            "received.v1",
            "supplement_requested.v1",
            "supplemented.v1",
        ], kinds
        first = json.loads(next(raw for raw, e in events if e.subject == d["id"]))
        assert first["data"]["before_receipt"] is True and first["data"]["missing"] == ["GCS"]

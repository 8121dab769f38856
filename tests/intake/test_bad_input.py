"""Bad input gets a clear problem+json saying where, nothing is stored half-way, and there is never a 500.
Intake judges dossiers from its replica alone: catalogue-svc is not running in any of these tests."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from intake.main import build_app
from intake.settings import Settings

from services.identity import Identity, Role, mint
from tests.conftest import Broker, DatabaseFactory
from tests.harness import serve
from tests.intake.support import P_ABOLISHED, P_WORKING, WARD, WARD2, catalogue_events, intake_env, submission
from tests.support import feed_catalogue


def applicant(**changes: Any) -> dict[str, Any]:
    body = submission()
    body["applicant"].update(changes)
    return body


async def test_bad_input_is_refused_clearly(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        cases: list[tuple[dict[str, Any], int, list[Any]]] = [
            (submission("9.999999"), 422, ["body", "procedure_code"]),
            (submission(P_ABOLISHED), 422, ["body", "procedure_code"]),
            (applicant(id_number="003090001234"), 422, ["body", "applicant", "id_number"]),  # 003: no such province
            (applicant(id_number="04609000123"), 422, ["body", "applicant", "id_number"]),  # 11 digits
            (applicant(id_number="046290001234"), 422, ["body", "applicant", "id_number"]),  # born 2090
            (applicant(kind="organisation", id_number="12345"), 422, ["body", "applicant", "id_number"]),
            (applicant(phone="0123456789"), 422, ["body", "applicant", "phone"]),
            (applicant(email="not-an-email"), 422, ["body", "applicant", "email"]),
            (applicant(name="Nguy\u0435n Văn An"), 422, ["body", "applicant", "name"]),  # Cyrillic е
            (applicant(name="Nguyễn\u200b Văn An"), 422, ["body", "applicant", "name"]),  # zero-width space
            (applicant(address="12 Lê Lợi\x07"), 422, ["body", "applicant", "address"]),
            (submission(documents=["TK"]), 422, ["body", "documents"]),
            (submission(documents=["TK", "GCS", "XX"]), 422, ["body", "documents", 2, "component_code"]),
            (submission(channel="online"), 422, ["body", "channel"]),
            ({**submission(), "unexpected": 1}, 422, ["body", "unexpected"]),
        ]
        for body, status, loc in cases:
            r = await c.post("/dossiers", json=body, headers=desk)
            assert r.status_code == status, (body, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            problem = r.json()
            assert problem["status"] == status and problem["detail"]
            assert any(e["loc"][: len(loc)] == loc for e in problem["errors"]), (loc, problem)

        # a unit that does not accept the procedure, and one that does not offer it online
        other = env.desk(unit="000.00.99.H57", subject="desk-x")
        r = await c.post("/dossiers", json=submission(), headers=other)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "receiving_unit"]
        r = await c.post("/dossiers", json=submission(channel="online", receiving_unit=WARD2), headers=env.portal())
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "channel"]
        # the portal may act only for its citizen
        r = await c.post(
            "/dossiers",
            json=submission(channel="online", receiving_unit=WARD),
            headers=env.portal(citizen="001090000001"),
        )
        assert r.status_code == 403

        # nothing was stored by any of them
        assert (await c.get("/dossiers", headers=desk)).json()["total"] == 0

        # text in decomposed form (NFD) is stored composed (NFC)
        body = applicant(name=unicodedata.normalize("NFD", "Trần Thị Bích Ngọc"))
        r = await c.post("/dossiers", json=body, headers=desk)
        assert r.status_code == 201, r.text
        assert r.json()["applicant"]["name"] == unicodedata.normalize("NFC", "Trần Thị Bích Ngọc")
        assert r.json()["code"].endswith("-0001")  # no number was used by the refused submissions
        assert r.json()["procedure_code"] == P_WORKING

        # files: too large, wrong type, content not matching its type, empty
        portal = env.portal()
        big = b"%PDF-" + b"0" * (64 * 1024)
        r = await c.post("/uploads", files={"file": ("a.pdf", big, "application/pdf")}, headers=portal)
        assert r.status_code == 413 and r.json()["errors"][0]["loc"] == ["body", "file"]
        r = await c.post(
            "/uploads", files={"file": ("a.exe", b"MZ\x90\x00", "application/x-msdownload")}, headers=portal
        )
        assert r.status_code == 415
        r = await c.post("/uploads", files={"file": ("a.pdf", b"MZ\x90\x00", "application/pdf")}, headers=portal)
        assert r.status_code == 415
        r = await c.post("/uploads", files={"file": ("a.png", b"", "image/png")}, headers=portal)
        assert r.status_code == 422

        # unknown dossier, unknown form, closed dossier
        assert (await c.get("/dossiers/nope", headers=desk)).status_code == 404
        d = r = await c.post("/dossiers", json=submission(), headers=desk)
        d = r.json()
        assert (await c.get(f"/dossiers/{d['id']}/forms/09", headers=desk)).status_code == 404
        assert (
            await c.post(f"/dossiers/{d['id']}/withdraw", json={"reason": "Xin rút"}, headers=desk)
        ).status_code == 200
        r = await c.post(f"/dossiers/{d['id']}/withdraw", json={"reason": "Xin rút"}, headers=desk)
        assert r.status_code == 409 and r.json()["dossier_status"] == "withdrawn"
        r = await c.post(f"/dossiers/{d['id']}/return-result", json={}, headers=desk)
        assert r.status_code == 409
        # a specialist is not a desk
        specialist = env.token_for_role("specialist")
        assert (await c.post("/dossiers", json=submission(), headers=specialist)).status_code == 403


async def test_intake_without_a_replica_refuses_and_then_serves_from_it(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    """Before the catalogue was ever published the procedure is unknown (422, not 500); once the topics carry it,
    intake serves from its replica although catalogue-svc never runs."""
    async with intake_env(databases, broker, topic_prefix, tmp_path, feed=False) as env:
        r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "procedure_code"]
        await feed_catalogue(broker.bootstrap, topic_prefix, env.url, catalogue_events())
        r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 201 and r.json()["code"].endswith("-0001")
        url = env.url

    # A fresh intake process on the same database, reading topics where nothing was ever published (catalogue-svc
    # gone, topics of another deployment): it still judges dossiers from its persisted replica.
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=topic_prefix + "x",
        storage_dir=str(tmp_path / "files"),
        log_level="WARNING",
    )
    async with serve(build_app(settings)) as client:
        desk = {"x-motcua-identity": mint(Identity(subject="d", role=Role.DESK_OFFICER, unit=WARD), secret(settings))}
        r = await client.post("/dossiers", json=submission(), headers=desk)
        assert r.status_code == 201 and r.json()["code"].split("-")[-1] == "0002", r.text


def secret(settings: Settings) -> str:
    return settings.internal_token_secret.get_secret_value()

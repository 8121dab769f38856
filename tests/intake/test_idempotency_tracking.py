"""Idempotent submission, tracking with a second factor, and each desk seeing only its own unit."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import CITIZEN_ID, PHONE, WARD, WARD2, intake_env, submission


async def test_idempotent_retries_and_concurrent_duplicates(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        key = {"idempotency-key": str(uuid.uuid4())}
        first = await c.post("/dossiers", json=submission(), headers={**desk, **key})
        assert first.status_code == 201
        again = await c.post("/dossiers", json=submission(), headers={**desk, **key})
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        other_body = await c.post("/dossiers", json=submission(note="khác"), headers={**desk, **key})
        assert other_body.status_code == 422 and other_body.json()["errors"][0]["loc"] == ["header", "idempotency-key"]
        # the same key of another caller is another request
        other_caller = await c.post("/dossiers", json=submission(), headers={**env.desk(subject="desk-2"), **key})
        assert other_caller.status_code == 201 and other_caller.json()["id"] != first.json()["id"]

        # 20 concurrent duplicates of a portal submission: one dossier, the same answer to all
        portal_key = {"idempotency-key": "portal-retry-1"}
        body = submission(channel="postal")
        answers = await asyncio.gather(
            *(c.post("/dossiers", json=body, headers={**desk, **portal_key}) for _ in range(20))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(1 for a in answers if a.headers.get("idempotent-replayed") is None) == 1
        listed = (await c.get("/dossiers?page_size=200", headers=desk)).json()
        assert listed["total"] == 3

        # a rejected request does not hold the key: the corrected retry goes through
        bad_key = {"idempotency-key": "k-bad"}
        r = await c.post("/dossiers", json=submission(documents=["TK"]), headers={**desk, **bad_key})
        assert r.status_code == 422
        r = await c.post("/dossiers", json=submission(), headers={**desk, **bad_key})
        assert r.status_code == 201


async def test_tracking_and_unit_scope(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        await c.post("/dossiers", json=submission(channel="postal"), headers=desk)
        anyone = env.portal(citizen="001090000001")

        r = await c.get(f"/tracking/{d['code']}", params={"phone": "+84 905 123 456"}, headers=anyone)
        assert r.status_code == 200, r.text
        t = r.json()
        assert t["status"] == "received" and t["appointment_at"] == d["appointment_at"]
        assert [s["action"] for s in t["steps"]] == ["received"]
        text = r.text
        assert PHONE not in text and CITIZEN_ID not in text and "Nguyễn" not in text and "Lê Lợi" not in text
        assert (
            await c.get(f"/tracking/{d['code']}", params={"citizen_id": CITIZEN_ID}, headers=anyone)
        ).status_code == 200

        wrong = await c.get(f"/tracking/{d['code']}", params={"phone": "0905000000"}, headers=anyone)
        unknown = await c.get(f"/tracking/{WARD}-200101-0001", params={"phone": PHONE}, headers=anyone)
        garbage = await c.get(f"/tracking/{d['code']}", params={"phone": "abc"}, headers=anyone)
        for resp in (wrong, unknown, garbage):
            assert resp.status_code == 404
            body = resp.json()
            body.pop("instance")
            assert body == {k: v for k, v in wrong.json().items() if k != "instance"}
        assert (await c.get(f"/tracking/{d['code']}", headers=anyone)).status_code == 422

        # another ward's desk: 403 on the dossier, its own (empty) list, 403 when asking for our unit
        other = env.desk(unit=WARD2, subject="desk-w2")
        assert (await c.get(f"/dossiers/{d['id']}", headers=other)).status_code == 403
        r = await c.post(f"/dossiers/{d['id']}/refuse", json={"reasons": ["x"]}, headers=other)
        assert r.status_code == 403
        assert (await c.get("/dossiers", headers=other)).json()["total"] == 0
        assert (await c.get("/dossiers", params={"unit": WARD}, headers=other)).status_code == 403
        # a desk cannot submit for another unit
        r = await c.post("/dossiers", json=submission(receiving_unit=WARD), headers=other)
        assert r.status_code == 403
        # another citizen through the portal: the dossier does not exist for them
        assert (await c.get(f"/dossiers/{d['id']}", headers=anyone)).status_code == 404
        assert (await c.get(f"/dossiers/{d['id']}", headers=env.portal())).status_code == 200

        # our desk: filters and paging
        page = (await c.get("/dossiers", params={"page_size": 1}, headers=desk)).json()
        assert page["total"] == 2 and len(page["items"]) == 1
        page2 = (await c.get("/dossiers", params={"page_size": 1, "page": 2}, headers=desk)).json()
        assert page2["items"][0]["id"] != page["items"][0]["id"]
        postal = (await c.get("/dossiers", params={"channel": "postal"}, headers=desk)).json()
        assert postal["total"] == 1 and postal["items"][0]["channel"] == "postal"
        assert (await c.get("/dossiers", params={"status": "refused"}, headers=desk)).json()["total"] == 0
        assert (await c.get("/dossiers", params={"page_size": 1000}, headers=desk)).status_code == 422
        # no identity: 401
        assert (await c.get("/dossiers")).status_code == 401

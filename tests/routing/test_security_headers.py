"""Forms 04 and 05 are served under a Content-Security-Policy, and nothing routing answers may be type-sniffed."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.clock import VN_TZ
from services.headers import DOCUMENT_CSP
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import CAL, SIMPLE, WARD, received, routing_env

pytestmark = pytest.mark.kafka


async def test_forms_04_and_05_carry_the_document_policy(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with routing_env(await databases.new("routing"), broker.bootstrap, topic_prefix) as env:
        d = received(SIMPLE, days=10)
        j = await env.start(d)
        base = f"/journeys/{d.dossier_id}"
        due_day = datetime.fromisoformat(j["due_at"]).astimezone(VN_TZ).date()
        new_day = CAL.next_working_day(CAL.next_working_day(CAL.next_working_day(due_day)))
        r = await env.client.post(f"{base}/extend", json={"new_date": new_day.isoformat(), "reason": "Cần xác minh"},
                                  headers=env.who(WARD))  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        for form in ("04", "05"):
            page = await env.client.get(f"{base}/forms/{form}", headers=env.who(WARD))
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
            assert page.headers["content-security-policy"] == DOCUMENT_CSP
            assert page.headers["x-content-type-options"] == "nosniff"
        refused = await env.client.get(f"{base}/forms/06", headers=env.who(WARD))
        assert refused.status_code == 404 and refused.headers["x-content-type-options"] == "nosniff"

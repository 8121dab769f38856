"""Units and mergers that keep history; the working-day calendar managed through the API."""

from __future__ import annotations

import pytest

from tests.catalogue.support import (
    ADMIN,
    CITY,
    DESK,
    PORTAL,
    PROVINCE,
    WARD_A,
    WARD_B,
    catalogue,
    decision,
    ok,
    small_structure,
    today,
)
from tests.conftest import Broker, DatabaseFactory

pytestmark = pytest.mark.kafka
MERGED = "000.40.00.H57"


async def test_merger_closes_units_keeps_history_and_hands_over_procedures(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with catalogue(await databases.new("cat"), broker.bootstrap, topic_prefix) as client:
        await small_structure(client)
        offer = [{"agency_id": WARD_A, "online_level": "partial"}, {"agency_id": WARD_B, "online_level": "full"}]
        ok(await client.post("/procedures/1.001193/decisions", json=decision(units=offer), headers=ADMIN), 201)
        # Two-tier reform: the two wards merge into a new ward directly under the province.
        merge = {
            "sources": [WARD_A, WARD_B],
            "new_unit": {
                "agency_id": MERGED,
                "name": "UBND phường Thuận Hóa",
                "kind": "administrative",
                "level": "commune",
                "level_rank": 3,
                "parent_id": PROVINCE,
                "valid_from": today(10),
            },
            "effective_from": today(10),
        }
        new = ok(await client.post("/units/merge", json=merge, headers=ADMIN))
        assert new["predecessor_ids"] == [WARD_A, WARD_B] and new["parent_id"] == PROVINCE
        old = ok(await client.get(f"/units/{WARD_A}", headers=PORTAL))["unit"]
        assert old["valid_to"] == today(10) and old["successor_id"] == MERGED and old["name"] == "UBND phường Phú Hội"

        before = {
            u["agency_id"]
            for u in ok(await client.get("/units", params={"level": "commune", "on": today(9)}, headers=PORTAL))
        }
        after = {
            u["agency_id"]
            for u in ok(await client.get("/units", params={"level": "commune", "on": today(10)}, headers=PORTAL))
        }
        assert before == {WARD_A, WARD_B} and after == {MERGED}
        children = ok(await client.get(f"/units/{CITY}", headers=PORTAL))["children"]
        assert {c["agency_id"] for c in children} >= {WARD_A, WARD_B}

        units = ok(await client.get("/procedures/1.001193", headers=DESK))["units"]
        assert {"agency_id": MERGED, "online_level": "full", "postal": False} in units
        again = await client.post("/units/merge", json={**merge, "new_unit": None, "into": PROVINCE}, headers=ADMIN)
        assert again.status_code == 409 and again.json()["type"].endswith("unit-closed")
        dup = await client.post("/units", json={**merge["new_unit"]}, headers=ADMIN)
        assert dup.status_code == 409
        orphan = {**merge["new_unit"], "agency_id": "000.41.00.H57", "parent_id": "000.99.99.H57"}
        assert (await client.post("/units", json=orphan, headers=ADMIN)).status_code == 422


async def test_calendar_through_the_api(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with catalogue(await databases.new("cat"), broker.bootstrap, topic_prefix) as client:

        async def due(received_at: str, days: int, unit: str = "working_days") -> str:
            params = {"received_at": received_at, "days": days, "unit": unit}
            return str(ok(await client.get("/calendar/deadline", params=params, headers=PORTAL))["due_at"])

        y2025 = ok(await client.get("/calendar/2025", headers=PORTAL))
        # Tết 2025: Mon 27 – Fri 31 Jan off; the 2025 swap: work Sat 26 Apr, off Fri 2 May.
        assert {f"2025-01-{d}" for d in (27, 28, 29, 30, 31)} <= set(y2025["days_off"])
        assert "2025-05-02" in y2025["days_off"] and "2025-04-26" in y2025["working_weekend_days"]
        y2026 = ok(await client.get("/calendar/2026", headers=PORTAL))
        assert {f"2026-02-{d}" for d in (16, 17, 18, 19, 20)} <= set(y2026["days_off"])

        # Received Friday before Tết 2025: 1 working day is Monday 3 Feb.
        assert await due("2025-01-24T10:00:00+07:00", 1) == "2025-02-03T17:00:00+07:00"
        # Friday 25 Apr 2025 + 1 working day: the make-up Saturday 26 Apr counts.
        assert await due("2025-04-25T10:00:00+07:00", 1) == "2025-04-26T17:00:00+07:00"
        # Over 30 Apr, 1 May and the swapped 2 May: Tue 29 Apr + 3 → Wed 7 May.
        assert await due("2025-04-29T09:00:00+07:00", 3) == "2025-05-07T17:00:00+07:00"
        # Calendar days landing on a holiday (30 Apr) move to the next working day (Mon 5 May).
        assert await due("2025-04-21T09:00:00+07:00", 9, "calendar_days") == "2025-05-05T17:00:00+07:00"
        # After office hours the clock starts the next working day: Mon 17:30 + 1 → Wed.
        assert await due("2025-03-03T17:30:00+07:00", 1) == "2025-03-05T17:00:00+07:00"
        # Tết 2026 (16–20 Feb with weekends): Fri 13 Feb + 1 → Mon 23 Feb.
        assert await due("2026-02-13T08:00:00+07:00", 1) == "2026-02-23T17:00:00+07:00"

        # The administrator's table: 2 Jan 2026 off (swapped with Sat 10 Jan).
        assert await due("2025-12-31T10:00:00+07:00", 1) == "2026-01-02T17:00:00+07:00"
        table = {
            "days": [
                {"day": "2026-01-02", "kind": "off", "note": "Nghỉ bù Tết Dương lịch"},
                {"day": "2026-01-10", "kind": "work", "note": "Làm bù cho 02/01"},
            ]
        }
        assert (await client.put("/calendar/2026", json=table, headers=PORTAL)).status_code == 403
        saved = ok(await client.put("/calendar/2026", json=table, headers=ADMIN))
        assert saved["revision"] == 1 and "2026-01-02" in saved["days_off"]
        assert "2026-01-10" in saved["working_weekend_days"]
        assert await due("2025-12-31T10:00:00+07:00", 1) == "2026-01-05T17:00:00+07:00"
        assert await due("2026-01-09T10:00:00+07:00", 1) == "2026-01-10T17:00:00+07:00"

        wrong_year = {"days": [{"day": "2025-01-02", "kind": "off"}]}
        r = await client.put("/calendar/2026", json=wrong_year, headers=ADMIN)
        assert r.status_code == 422 and r.json()["type"].endswith("wrong-year")
        twice = {"days": [{"day": "2026-03-02", "kind": "off"}, {"day": "2026-03-02", "kind": "work"}]}
        assert (await client.put("/calendar/2026", json=twice, headers=ADMIN)).status_code == 422
        assert ok(await client.get("/calendar/2026", headers=PORTAL))["revision"] == 1

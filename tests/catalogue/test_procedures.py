"""Versioning by publication decisions, per-unit configuration and bad input, through the HTTP API."""

from __future__ import annotations

import pytest

from tests.catalogue.support import (
    ADMIN,
    CITY_JUSTICE,
    DESK,
    JUSTICE_DEPT,
    PORTAL,
    WARD_A,
    WARD_B,
    catalogue,
    content,
    decision,
    ok,
    small_structure,
    today,
)
from tests.conftest import Broker, DatabaseFactory

pytestmark = pytest.mark.kafka
CODE = "1.001193"


async def test_versions_in_force_at_t_and_abolition(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with catalogue(await databases.new("cat"), broker.bootstrap, topic_prefix) as client:
        await small_structure(client)
        v1 = ok(
            await client.post(
                f"/procedures/{CODE}/decisions",
                json=decision(units=[{"agency_id": WARD_A, "online_level": "full", "postal": True}]),
                headers=ADMIN,
            ),
            201,
        )
        assert v1["version"] == 1 and v1["content"]["field_name"] == "Hộ tịch"
        amended = decision("amended", 30, "200/QĐ-UBND", content=content(processing_time=2))
        v2 = ok(await client.post(f"/procedures/{CODE}/decisions", json=amended, headers=ADMIN), 201)
        assert v2["version"] == 2
        abolished = ok(
            await client.post(
                f"/procedures/{CODE}/decisions", json=decision("abolished", 60, "300/QĐ-UBND"), headers=ADMIN
            ),
            201,
        )
        assert abolished["status"] == "abolished"

        async def in_force(day: str) -> dict:  # type: ignore[type-arg]
            return ok(await client.get(f"/procedures/{CODE}/in-force", params={"at": day}, headers=PORTAL))

        assert (await in_force(today()))["version"] == 1
        assert (await in_force(today(29)))["content"]["processing_time"] == 3
        assert (await in_force(today(30)))["version"] == 2
        # A moment with an offset is judged on its Asia/Ho_Chi_Minh date: 17:30 UTC is 00:30 the next day there.
        at = f"{today(29)}T17:30:00+00:00"
        assert (await in_force(at))["version"] == 2
        gone = await in_force(today(61))
        assert gone["status"] == "abolished" and gone["content"]["name"] == "Đăng ký khai sinh"
        assert (
            await client.get(f"/procedures/{CODE}/in-force", params={"at": today(-1)}, headers=PORTAL)
        ).status_code == 404

        full = ok(await client.get(f"/procedures/{CODE}", headers=DESK))
        assert [v["version"] for v in full["versions"]] == [1, 2, 3]
        assert full["versions"][0]["effective_to"] == today(30)
        assert full["in_force"]["version"] == 1
        assert full["units"] == [{"agency_id": WARD_A, "online_level": "full", "postal": True}]
        # Abolished: no further decisions.
        again = await client.post(f"/procedures/{CODE}/decisions", json=decision("amended", 90), headers=ADMIN)
        assert again.status_code == 409 and again.json()["type"].endswith("procedure-abolished")


async def test_bad_input_is_refused_and_nothing_is_written(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with catalogue(await databases.new("cat"), broker.bootstrap, topic_prefix) as client:
        await small_structure(client)
        url = f"/procedures/{CODE}/decisions"

        async def refused(body: dict, status: int, slug: str, who: dict[str, str] = ADMIN) -> None:  # type: ignore[type-arg]
            r = await client.post(url, json=body, headers=who)
            assert r.status_code == status, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith(slug), r.json()

        await refused(decision(content=content(field_code="G99-XX")), 422, "unknown-field")
        await refused(decision(effective=-1), 422, "effective-date-in-past")
        bad_fee = content(fees=[{"code": "X", "name": "Phí", "amount": -1}])
        await refused(decision(content=bad_fee), 422, "validation-error")
        route = [
            {"order": 1, "level": "commune", "task": "tiếp nhận", "share_percent": 20},
            {"order": 2, "level": "district", "agency_id": CITY_JUSTICE, "task": "thẩm định", "share_percent": 30},
            {"order": 3, "level": "province", "agency_id": JUSTICE_DEPT, "task": "quyết định", "share_percent": 40},
        ]
        await refused(decision(content=content(route=route)), 422, "route-shares")
        await refused(decision(units=[{"agency_id": "009.09.99.H57"}]), 422, "unknown-unit")
        await refused(decision(), 403, "forbidden", who=PORTAL)
        await refused(decision("amended"), 404, "unknown-procedure")
        assert (await client.post(url, json=decision())).status_code == 401
        assert (await client.get(f"/procedures/{CODE}", headers=PORTAL)).status_code == 404

        route[2]["share_percent"] = 50
        created = ok(await client.post(url, json=decision(content=content(route=route)), headers=ADMIN), 201)
        assert len(created["content"]["route"]) == 3
        await refused(decision(), 409, "duplicate-code")
        await refused(decision("amended", 0), 409, "overlapping-version")

        # Per-unit configuration, and an NFC-normalised name typed in decomposed form.
        units = {"units": [{"agency_id": WARD_A, "online_level": "partial"}, {"agency_id": WARD_B}]}
        state = ok(await client.put(f"/procedures/{CODE}/units", json=units, headers=ADMIN))
        assert [u["agency_id"] for u in state["units"]] == [WARD_A, WARD_B]
        dup = {"units": [{"agency_id": WARD_A}, {"agency_id": WARD_A}]}
        assert (await client.put(f"/procedures/{CODE}/units", json=dup, headers=ADMIN)).status_code == 422
        import unicodedata

        decomposed = unicodedata.normalize("NFD", "Đăng ký kết hôn")
        body = decision(content=content(name=decomposed))
        made = ok(await client.post("/procedures/1.000894/decisions", json=body, headers=ADMIN), 201)
        assert made["content"]["name"] == unicodedata.normalize("NFC", "Đăng ký kết hôn")

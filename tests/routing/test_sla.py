"""Deadlines on the working-day calendar: pauses, the one extension (form 04), refusal; bad input changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from routing.domain.sla import split_days

from services.clock import VN_TZ
from services.contracts.intake import DossierSupplemented
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import CAL, CITY_JUSTICE, INTER3, SIMPLE, WARD, Env, received, routing_env
from tests.routing.test_journeys import problem

pytestmark = pytest.mark.kafka


@pytest.fixture
async def env(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> AsyncIterator[Env]:
    async with routing_env(await databases.new("routing"), broker.bootstrap, topic_prefix) as e:
        yield e


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_split_days_adds_up() -> None:
    assert split_days(10, [20, 30, 50]) == [2, 3, 5]
    assert split_days(7, [1, 1, 1]) == [2, 3, 2]
    assert sum(split_days(13, [33, 33, 34])) == 13
    assert split_days(0, [50, 50]) == [0, 0]


async def test_after_a_supplement_the_processing_time_restarts_from_zero(env: Env) -> None:
    c, who = env.client, env.who
    # received a week ago: working time has run before the pause whatever the hour the test runs (after office
    # hours, a dossier received minutes ago has used none, and restarting would equal shifting by the pause)
    d = received(INTER3, days=12, received_at=datetime.now(UTC) - timedelta(days=7))
    before = await env.start(d)
    base = f"/journeys/{d.dossier_id}"
    problem(await c.post(f"{base}/supplement", json={"missing": ["TP01"], "reason": "x"}, headers=who(CITY_JUSTICE)),
            403, "not-holder")
    r = await c.post(
        f"{base}/supplement", json={"missing": ["TP01", "TP03"], "reason": "Thiếu bản sao giấy khai sinh"},
        headers=who(WARD),
    )
    paused = r.json()
    assert (paused["phase"], paused["status"]) == ("paused", 5)
    problem(await c.post(f"{base}/complete", json={}, headers=who(WARD)), 409, "invalid-transition")
    await env.wait_events(d.dossier_id, "journey.supplement_requested.v1")

    # the applicant supplements at the desk nine calendar days later; intake counts the 12 days again from then
    paused_at = at(paused["paused_at"])
    resumed_at = paused_at + timedelta(days=9)
    n = CAL.working_days_between(paused_at, resumed_at)
    assert n >= 5
    appointment = CAL.add_working_days(resumed_at, 12)
    assert appointment > CAL.shift_working_days(at(before["due_at"]), n)  # not merely shifted by the pause
    await env.intake(
        DossierSupplemented(dossier_id=d.dossier_id, code=d.code, at=resumed_at, appointment_at=appointment),
        d.dossier_id,
    )
    await env.wait_events(d.dossier_id, "journey.resumed.v1")
    after = await env.journey(d.dossier_id)
    assert (after["phase"], after["status"], after["paused_working_days"]) == ("active", 4, n)
    assert at(after["due_at"]) == appointment
    days = [s["working_days"] for s in before["steps"]]
    assert [s["working_days"] for s in after["steps"]] == days and sum(days) == 12
    expected = [CAL.add_working_days(resumed_at, sum(days[: i + 1])) for i in range(len(days))]
    expected[-1] = appointment
    assert [at(s["due_at"]) for s in after["steps"]] == expected
    assert at(after["step_due_at"]) == at(after["steps"][0]["due_at"])
    resumed = env.tap.of(d.dossier_id, "journey.resumed.v1")[0]
    assert resumed["paused_working_days"] == n and at(resumed["due_at"]) == appointment

    # handed in at the agency itself: its resume counts the route's 12 working days again from that moment
    await c.post(f"{base}/supplement", json={"missing": ["TP02"], "reason": "thiếu"}, headers=who(WARD))
    problem(await c.post(f"{base}/resume", json={}, headers=who(CITY_JUSTICE)), 403, "not-holder")
    t0 = datetime.now(UTC)
    r = await c.post(f"{base}/resume", json={"note": "đã bổ sung"}, headers=who(WARD))
    t1 = datetime.now(UTC)
    assert r.status_code == 200, r.text
    assert at(r.json()["due_at"]) in {CAL.add_working_days(t0, 12), CAL.add_working_days(t1, 12)}
    assert r.json()["paused_working_days"] == n  # a pause that ends the same day loses no working day
    problem(await c.post(f"{base}/resume", json={}, headers=who(WARD)), 409, "invalid-transition")


async def test_one_extension_then_the_second_is_refused(env: Env) -> None:
    c, who = env.client, env.who
    d = received(SIMPLE, days=10)
    j = await env.start(d)
    assert (j["inter_level"], [s["unit"] for s in j["steps"]], j["phase"]) == (False, [WARD], "active")
    base = f"/journeys/{d.dossier_id}"
    due = at(j["due_at"])
    due_day = due.astimezone(VN_TZ).date()
    new_day = CAL.next_working_day(CAL.next_working_day(CAL.next_working_day(due_day)))
    body = {"new_date": new_day.isoformat(), "reason": "Cần xác minh thêm tại địa phương"}

    problem(await c.post(f"{base}/extend", json=body, headers=who(CITY_JUSTICE)), 403, "not-holder")
    problem(await c.post(f"{base}/extend", json={**body, "new_date": due_day.isoformat()}, headers=who(WARD)), 422,
            "invalid-new-date")
    problem(await c.get(f"{base}/forms/04", headers=who(WARD)), 404, "no-extension")
    r = await c.post(f"{base}/extend", json=body, headers=who(WARD))
    assert r.status_code == 200, r.text
    extended = r.json()
    assert extended["extended"] is True and at(extended["original_due_at"]) == due
    assert at(extended["due_at"]) == CAL.due_at(new_day)
    await env.wait_events(d.dossier_id, "journey.extended.v1")
    event = env.tap.of(d.dossier_id, "journey.extended.v1")[0]
    assert event["appointment_date"] == new_day.isoformat() and event["reason"] == body["reason"]
    assert at(event["previous_appointment_at"]) == due

    form = await c.get(f"{base}/forms/04", headers=who(WARD))
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in form.text
    assert body["reason"] in form.text and new_day.strftime("%d/%m/%Y") in form.text and d.code in form.text

    later = CAL.next_working_day(new_day)
    r = await c.post(f"{base}/extend", json={**body, "new_date": later.isoformat()}, headers=who(WARD))
    problem(r, 409, "already-extended")
    assert (await env.journey(d.dossier_id))["due_at"] == extended["due_at"]
    assert len(env.tap.of(d.dossier_id, "journey.extended.v1")) == 1


async def test_extension_too_late_and_refused_dossier_cannot_complete(env: Env) -> None:
    c, who = env.client, env.who
    now = datetime.now(UTC)
    late = received(SIMPLE, received_at=now - timedelta(days=20), appointment_at=now - timedelta(hours=1))
    await env.start(late)
    body = {"new_date": CAL.next_working_day(CAL.next_working_day(now.date())).isoformat(), "reason": "trễ"}
    r = await c.post(f"/journeys/{late.dossier_id}/extend", json=body, headers=who(WARD))
    problem(r, 422, "extension-too-late")
    j = await env.journey(late.dossier_id)
    assert j["extended"] is False and at(j["due_at"]) == late.appointment_at

    r = await c.post(f"/journeys/{late.dossier_id}/refuse", json={"reasons": ["Không đủ điều kiện"]}, headers=who(WARD))
    assert (r.json()["status"], r.json()["outcome"]) == (3, "refused")
    problem(await c.post(f"/journeys/{late.dossier_id}/complete", json={"result": "x"}, headers=who(WARD)), 409,
            "invalid-transition")
    r = await c.post(f"/journeys/{late.dossier_id}/return", json={}, headers=who(WARD))
    assert (r.json()["phase"], r.json()["status"]) == ("at_desk", 3)

"""Deadlines on the working-day calendar: pauses, the one extension (form 04), refusal; bad input changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from routing.sla import split_days

from services.calendar import VN_TZ
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


async def test_pause_and_resume_shift_due_dates_by_the_paused_working_days(env: Env) -> None:
    c, who = env.client, env.who
    d = received(INTER3, days=12)
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

    # the applicant supplements at the desk nine calendar days later; intake announces it
    paused_at = at(paused["paused_at"])
    resumed_at = paused_at + timedelta(days=9)
    n = CAL.working_days_between(paused_at, resumed_at)
    assert n >= 5
    await env.intake(
        DossierSupplemented(
            dossier_id=d.dossier_id, code=d.code, at=resumed_at, appointment_at=at(before["due_at"])
        ),
        d.dossier_id,
    )
    await env.wait_events(d.dossier_id, "journey.resumed.v1")
    after = await env.journey(d.dossier_id)
    assert (after["phase"], after["status"], after["paused_working_days"]) == ("active", 4, n)
    old_due, new_due = at(before["due_at"]), at(after["due_at"])
    assert new_due == CAL.shift_working_days(old_due, n)
    # exactly n working days later, whatever weekends and holidays lie between
    assert len(CAL.working_days_in(old_due.date() + timedelta(days=1), new_due.astimezone(UTC).date())) == n
    for s0, s1 in zip(before["steps"], after["steps"], strict=True):
        assert at(s1["due_at"]) == CAL.shift_working_days(at(s0["due_at"]), n)
    assert at(after["step_due_at"]) == at(after["steps"][0]["due_at"])
    assert env.tap.of(d.dossier_id, "journey.resumed.v1")[0]["paused_working_days"] == n

    # a pause that ends the same day gives nothing back
    await c.post(f"{base}/supplement", json={"missing": ["TP02"], "reason": "thiếu"}, headers=who(WARD))
    problem(await c.post(f"{base}/resume", json={}, headers=who(CITY_JUSTICE)), 403, "not-holder")
    r = await c.post(f"{base}/resume", json={"note": "đã bổ sung"}, headers=who(WARD))
    assert r.status_code == 200, r.text
    assert (at(r.json()["due_at"]), r.json()["paused_working_days"]) == (new_due, n)
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

"""Journeys against the real broker and database: inter-level routing, hops, the single holder, the action log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from routing import repository as repo
from routing.domain import rules
from routing.domain.model import Actor
from routing.domain.status import derive_status
from routing.service import Journeys

from services.contracts.intake import Channel, DossierResultReturned
from services.db import Database
from services.identity import Role
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import (
    CITY_JUSTICE,
    CITY_LABOUR,
    CITY_OLD,
    INTER2,
    INTER3,
    MERGED_ROUTE,
    PROVINCE_JUSTICE,
    WARD,
    WARD_B,
    Env,
    received,
    routing_env,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
async def env(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> AsyncIterator[Env]:
    async with routing_env(await databases.new("routing"), broker.bootstrap, topic_prefix) as e:
        yield e


def problem(r: object, status: int, code: str) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert r.json()["type"].endswith("/" + code), r.text  # type: ignore[attr-defined]


async def assert_log_matches(env: Env, dossier_id: str) -> None:
    db = Database(env.url)
    try:
        async with db.sessionmaker() as session:
            j = await repo.journey(session, dossier_id)
            log = await repo.actions(session, dossier_id)
        assert j is not None
        assert [a.seq for a in log] == list(range(1, len(log) + 1))
        assert int(derive_status((a.action, a.data) for a in log)) == j.status
    finally:
        await db.dispose()


async def test_full_inter_level_journey_ward_city_province_and_back(env: Env) -> None:
    c, who = env.client, env.who
    d = received(INTER3)
    j = await env.start(d)
    # the first step is the ward's own (agency None at commune level): it starts at the receiving unit
    assert [s["unit"] for s in j["steps"]] == [WARD, CITY_JUSTICE, PROVINCE_JUSTICE]
    assert [s["level"] for s in j["steps"]] == ["commune", "district", "province"]
    assert sum(s["working_days"] for s in j["steps"]) == 10
    assert [s["working_days"] for s in j["steps"]] == [2, 3, 5]
    assert j["steps"][-1]["due_at"] == j["due_at"]
    assert (j["holder_unit"], j["phase"], j["status"], j["inter_level"]) == (WARD, "active", 2, True)
    base = f"/journeys/{d.dossier_id}"

    r = await c.post(f"{base}/assign", json={"officer": "nguyen.van.a"}, headers=who(WARD, Role.DESK_OFFICER))
    assert r.status_code == 200, r.text
    assert (r.json()["officer"], r.json()["status"]) == ("nguyen.van.a", 4)
    # only the holder acts: the city may not complete the ward's step (no state change)
    problem(await c.post(f"{base}/complete", json={}, headers=who(CITY_JUSTICE)), 403, "not-holder")

    r = await c.post(f"{base}/complete", json={"note": "đủ điều kiện"}, headers=who(WARD))
    assert r.status_code == 200, r.text
    j = r.json()
    assert (j["holder_unit"], j["pending_unit"], j["phase"]) == (WARD, CITY_JUSTICE, "awaiting")
    hop = j["pending_hop_id"]
    # only the addressed unit accepts
    problem(await c.post(f"{base}/hops/{hop}/accept", headers=who(PROVINCE_JUSTICE)), 403, "not-addressee")
    r = await c.post(f"{base}/hops/{hop}/accept", headers=who(CITY_JUSTICE))
    assert r.status_code == 200, r.text
    j = r.json()
    assert (j["holder_unit"], j["pending_unit"], j["current_step"], j["status"]) == (CITY_JUSTICE, None, 2, 4)
    problem(await c.post(f"{base}/hops/{hop}/accept", headers=who(CITY_JUSTICE)), 409, "hop-not-pending")
    problem(await c.post(f"{base}/assign", json={"officer": "x"}, headers=who(WARD)), 403, "not-holder")

    r = await c.post(f"{base}/complete", json={}, headers=who(CITY_JUSTICE))
    hop = r.json()["pending_hop_id"]
    r = await c.post(f"{base}/hops/{hop}/accept", headers=who(PROVINCE_JUSTICE))
    assert r.json()["holder_unit"] == PROVINCE_JUSTICE
    problem(await c.post(f"{base}/complete", json={}, headers=who(PROVINCE_JUSTICE)), 422, "unprocessable-content")
    r = await c.post(f"{base}/complete", json={"result": "Giấy chứng nhận số 12/GCN"}, headers=who(PROVINCE_JUSTICE))
    j = r.json()
    assert (j["phase"], j["status"], j["outcome"]) == ("processed", 9, "approved")
    problem(await c.post(f"{base}/complete", json={"result": "x"}, headers=who(PROVINCE_JUSTICE)), 409,
            "invalid-transition")

    # the result travels back to the receiving desk in one hop
    r = await c.post(f"{base}/return", json={}, headers=who(PROVINCE_JUSTICE))
    j = r.json()
    assert (j["holder_unit"], j["pending_unit"]) == (PROVINCE_JUSTICE, WARD)
    r = await c.post(f"{base}/hops/{j['pending_hop_id']}/accept", headers=who(WARD, Role.DESK_OFFICER))
    j = r.json()
    assert (j["holder_unit"], j["phase"], j["status"]) == (WARD, "at_desk", 9)
    assert [h["state"] for h in j["hops"]] == ["accepted"] * 3
    assert all(s["state"] == "done" and s["late"] is False for s in j["steps"])

    # intake hands the result over: the journey closes with status 10
    await env.intake(
        DossierResultReturned(
            dossier_id=d.dossier_id, code=d.code, at=datetime.now(UTC), channel=Channel.IN_PERSON
        ),
        d.dossier_id,
    )
    await env.wait_events(d.dossier_id, "journey.closed.v1")
    j = await env.journey(d.dossier_id)
    assert (j["phase"], j["status"]) == ("closed", 10)

    types = env.tap.types(d.dossier_id)
    assert types.count("routing.journey.started") == 1
    assert types.count("routing.hop.requested") == 3
    assert types.count("routing.hop.accepted") == 3
    assert types.count("routing.step.completed") == 3
    assert types.count("routing.journey.processed") == 1
    assert types.count("routing.journey.result_at_desk") == 1
    assert not [t for t in types if t.endswith("received")]  # one dossier downstream, never received twice
    await assert_log_matches(env, d.dossier_id)

    log = (await c.get(f"{base}/actions", headers=who(WARD))).json()
    # each action is logged with the unit that took it and who did: intake itself, or the officer
    assert [(a["action"], a["unit"]) for a in log] == [
        *[("received", WARD), ("step_started", WARD), ("assigned", WARD), ("step_completed", WARD)],
        *[("hop_requested", WARD), ("hop_accepted", CITY_JUSTICE), ("step_completed", CITY_JUSTICE)],
        *[("hop_requested", CITY_JUSTICE), ("hop_accepted", PROVINCE_JUSTICE), ("step_completed", PROVINCE_JUSTICE)],
        *[("processed", PROVINCE_JUSTICE), ("hop_requested", PROVINCE_JUSTICE), ("hop_accepted", WARD)],
        *[("result_at_desk", WARD), ("result_returned", None)],
    ]
    assert all(a["actor"] == ("intake" if a["role"] == "system" else f"officer@{a['unit']}") for a in log)
    assert all({"actor", "role", "unit", "at", "action", "note"} <= set(a) for a in log)
    form = await c.get(f"{base}/forms/05", headers=who(WARD))
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
    assert d.code in form.text and "Phòng Tư pháp thành phố Huế" in form.text and "Trả kết quả" in form.text
    # a unit with no part in the dossier reads nothing
    problem(await c.get(base, headers=who(WARD_B)), 403, "forbidden")


async def test_two_tier_route_commune_to_province(env: Env) -> None:
    d = received(INTER2, days=5)
    j = await env.start(d)
    assert [(s["level"], s["unit"]) for s in j["steps"]] == [("commune", WARD), ("province", PROVINCE_JUSTICE)]
    assert [s["working_days"] for s in j["steps"]] == [2, 3]
    r = await env.client.post(f"/journeys/{d.dossier_id}/complete", json={}, headers=env.who(WARD))
    assert r.json()["pending_unit"] == PROVINCE_JUSTICE


async def test_reject_and_reroute(env: Env) -> None:
    c, who = env.client, env.who
    d = received(INTER3)
    await env.start(d)
    base = f"/journeys/{d.dossier_id}"
    hop = (await c.post(f"{base}/complete", json={}, headers=who(WARD))).json()["pending_hop_id"]
    problem(await c.post(f"{base}/hops/{hop}/reject", json={}, headers=who(CITY_JUSTICE)), 422, "validation-error")
    r = await c.post(f"{base}/hops/{hop}/reject", json={"reason": "Không thuộc thẩm quyền"}, headers=who(CITY_JUSTICE))
    j = r.json()
    # the sender still holds it, nobody else does
    assert (j["holder_unit"], j["pending_unit"], j["phase"]) == (WARD, None, "routing")
    problem(await c.post(f"{base}/hops/{hop}/accept", headers=who(CITY_JUSTICE)), 409, "hop-not-pending")
    # a merged unit is refused with a pointer to its successor, and nothing changes
    r = await c.post(f"{base}/transfer", json={"to_unit": CITY_OLD}, headers=who(WARD))
    problem(r, 422, "unit-merged")
    assert r.json()["successor_id"] == CITY_JUSTICE
    assert (await env.journey(d.dossier_id))["phase"] == "routing"
    problem(await c.post(f"{base}/transfer", json={"to_unit": CITY_LABOUR}, headers=who(CITY_JUSTICE)), 403,
            "not-holder")
    r = await c.post(f"{base}/transfer", json={"to_unit": CITY_LABOUR, "note": "chuyển lại"}, headers=who(WARD))
    j = r.json()
    assert (j["pending_unit"], j["steps"][1]["unit"]) == (CITY_LABOUR, CITY_LABOUR)
    r = await c.post(f"{base}/hops/{j['pending_hop_id']}/accept", headers=who(CITY_LABOUR))
    assert (r.json()["holder_unit"], r.json()["current_step"]) == (CITY_LABOUR, 2)
    assert [h["state"] for h in r.json()["hops"]] == ["rejected", "accepted"]
    await env.wait_events(d.dossier_id, "hop.rejected.v1")
    assert env.tap.of(d.dossier_id, "hop.rejected.v1")[0]["reason"] == "Không thuộc thẩm quyền"
    await assert_log_matches(env, d.dossier_id)


async def test_route_step_on_a_merged_unit_stays_at_the_desk(env: Env) -> None:
    d = received(MERGED_ROUTE)
    j = await env.start(d)
    # the ward's step runs; completing it cannot hop to a merged unit: the ward keeps the dossier and re-routes
    r = await env.client.post(f"/journeys/{d.dossier_id}/complete", json={}, headers=env.who(WARD))
    assert r.status_code == 200, r.text
    j = r.json()
    assert (j["holder_unit"], j["pending_unit"], j["phase"]) == (WARD, None, "routing")
    actions = (await env.client.get(f"/journeys/{d.dossier_id}/actions", headers=env.who(WARD))).json()
    assert actions[-1]["action"] == "route_blocked" and CITY_OLD in actions[-1]["note"]
    r = await env.client.post(f"/journeys/{d.dossier_id}/transfer", json={}, headers=env.who(WARD))
    problem(r, 422, "unit-merged")
    r = await env.client.post(
        f"/journeys/{d.dossier_id}/transfer", json={"to_unit": CITY_JUSTICE}, headers=env.who(WARD)
    )
    assert r.json()["pending_unit"] == CITY_JUSTICE


async def test_a_state_change_without_its_actions_and_events_is_never_committed(env: Env) -> None:
    """Commands write their decision's actions and events before they return; a decision saved without writing its
    events fails the commit."""
    d = received(INTER2)
    await env.start(d)
    db = Database(env.url)
    try:
        with pytest.raises(RuntimeError, match="not written"):
            async with db.sessionmaker() as session, session.begin():
                svc = Journeys(session, env.settings.topic_prefix)
                state = await svc.work.lock(d.dossier_id)
                assert state is not None
                decision = rules.assign(state, Actor.system(WARD), "cb.tuphap", None, svc.now())
                await svc.work.save(decision)  # not through a command: its events are never written
        async with db.sessionmaker() as session:
            j = await repo.journey(session, d.dossier_id)
            assert j is not None and j.officer is None
        # The same change through the command is written with its action and event.
        async with db.sessionmaker() as session, session.begin():
            svc = Journeys(session, env.settings.topic_prefix)
            await svc.assign(d.dossier_id, Actor.system(WARD), "cb.tuphap", None)
        await env.wait_events(d.dossier_id, "journey.assigned.v1")
    finally:
        await db.dispose()
    await assert_log_matches(env, d.dossier_id)


async def test_several_commands_on_one_journey_in_one_transaction(env: Env) -> None:
    """One transaction's commands share what they read of the journey (locked once, its steps, hops and action
    number kept): a hop sent and answered in the same transaction is written answered, the actions numbered in
    order."""
    d = received(INTER3)
    db = Database(env.url)
    try:
        async with db.sessionmaker() as session, session.begin():
            svc = Journeys(session, env.settings.topic_prefix)
            await svc.start(d)
            sent = await svc.complete(d.dossier_id, Actor.system(WARD), None, "đủ điều kiện")
            assert sent.pending_hop_id is not None
            accepted = await svc.accept_hop(d.dossier_id, sent.pending_hop_id, Actor.system(CITY_JUSTICE))
            assert (accepted.holder_unit, accepted.current_step) == (CITY_JUSTICE, 2)
    finally:
        await db.dispose()
    j = await env.journey(d.dossier_id)
    assert (j["holder_unit"], j["pending_unit"], j["phase"], j["status"]) == (CITY_JUSTICE, None, "active", 4)
    assert [(h["state"], h["decided_by"]) for h in j["hops"]] == [("accepted", "routing")]
    assert [s["state"] for s in j["steps"]] == ["done", "active", "planned"]
    await env.wait_events(d.dossier_id, "hop.accepted.v1")
    assert env.tap.types(d.dossier_id) == [
        "routing.journey.started",
        "routing.step.completed",
        "routing.hop.requested",
        "routing.hop.accepted",
    ]
    await assert_log_matches(env, d.dossier_id)

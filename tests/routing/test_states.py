"""The journey's state machine at its owner: a closed journey takes no command, and commands on one journey
serialise (two units racing for the same hop, a holder completing twice at once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.clock import VN_TZ
from services.contracts.intake import Channel, DossierRefused, DossierResultReturned, DossierWithdrawn
from services.identity import Role
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import CAL, CITY_JUSTICE, INTER3, PROVINCE_JUSTICE, SIMPLE, WARD, Env, received, routing_env
from tests.routing.test_journeys import assert_log_matches, problem

pytestmark = pytest.mark.kafka


@pytest.fixture
async def env(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> AsyncIterator[Env]:
    async with routing_env(await databases.new("routing"), broker.bootstrap, topic_prefix) as e:
        yield e


async def test_nothing_acts_on_a_closed_journey(env: Env) -> None:
    """A hop still pending when the dossier closes can no longer be accepted (it was: the journey came back to life
    with status 10 and a new hop), and no other command moves the closed journey."""
    c, who = env.client, env.who
    d = received(INTER3)
    await env.start(d)
    base = f"/journeys/{d.dossier_id}"
    hop = (await c.post(f"{base}/complete", json={}, headers=who(WARD))).json()["pending_hop_id"]
    await env.intake(
        DossierResultReturned(dossier_id=d.dossier_id, code=d.code, at=datetime.now(UTC), channel=Channel.IN_PERSON),
        d.dossier_id,
    )
    await env.wait_events(d.dossier_id, "journey.closed.v1")
    closed = await env.journey(d.dossier_id)
    assert (closed["phase"], closed["status"], closed["pending_unit"]) == ("closed", 10, None)
    assert [h["state"] for h in closed["hops"]] == ["cancelled"]

    problem(await c.post(f"{base}/hops/{hop}/accept", headers=who(CITY_JUSTICE)), 409, "journey-closed")
    problem(await c.post(f"{base}/hops/{hop}/reject", json={"reason": "x"}, headers=who(CITY_JUSTICE)), 409,
            "journey-closed")  # fmt: skip
    holder = who(WARD, Role.DESK_OFFICER)
    for action, body in [
        ("complete", {"result": "x"}),
        ("assign", {"officer": "a"}),
        ("transfer", {}),
        ("refuse", {"reasons": ["x"]}),
        ("supplement", {"missing": ["TK"], "reason": "x"}),
        ("resume", {}),
        ("return", {}),
        ("extend", {"new_date": "2099-01-05", "reason": "x"}),
    ]:
        r = await c.post(f"{base}/{action}", json=body, headers=holder)
        problem(r, 409, "journey-closed")
        assert r.json()["status_code"] == 10
    after = await env.journey(d.dossier_id)
    assert {k: after[k] for k in ("phase", "status", "holder_unit", "pending_unit", "closed_at", "hops")} == {
        k: closed[k] for k in ("phase", "status", "holder_unit", "pending_unit", "closed_at", "hops")
    }
    # a second closing event (a withdrawal that crossed the return) changes nothing either
    await env.intake(
        DossierWithdrawn(dossier_id=d.dossier_id, code=d.code, at=datetime.now(UTC), reason="rút"), d.dossier_id
    )
    await env.intake(
        DossierResultReturned(dossier_id=d.dossier_id, code=d.code, at=datetime.now(UTC), channel=Channel.IN_PERSON),
        d.dossier_id,
    )
    await asyncio.sleep(1)
    assert len(env.tap.of(d.dossier_id, "journey.closed.v1")) == 1
    assert (await env.journey(d.dossier_id))["status"] == 10
    await assert_log_matches(env, d.dossier_id)


async def test_a_withdrawn_journey_stays_withdrawn(env: Env) -> None:
    c, who = env.client, env.who
    d = received(INTER3)
    await env.start(d)
    base = f"/journeys/{d.dossier_id}"
    await env.intake(
        DossierWithdrawn(dossier_id=d.dossier_id, code=d.code, at=datetime.now(UTC), reason="Xin rút"), d.dossier_id
    )
    await env.wait_events(d.dossier_id, "journey.closed.v1")
    problem(await c.post(f"{base}/complete", json={}, headers=who(WARD)), 409, "journey-closed")
    j = await env.journey(d.dossier_id)
    assert (j["phase"], j["status"], j["holder_unit"]) == ("closed", 8, WARD)


async def test_concurrent_commands_on_one_journey_serialise(env: Env) -> None:
    """Two answers to one hop at once: exactly one wins, the other sees the hop answered; two completions of one
    step at once: one hop to the next unit, not two."""
    c, who = env.client, env.who
    for _ in range(3):
        d = received(INTER3)
        await env.start(d)
        base = f"/journeys/{d.dossier_id}"
        first, second = await asyncio.gather(
            c.post(f"{base}/complete", json={}, headers=who(WARD)),
            c.post(f"{base}/complete", json={}, headers=who(WARD)),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
        j = await env.journey(d.dossier_id)
        assert len(j["hops"]) == 1 and j["pending_unit"] == CITY_JUSTICE
        hop = j["pending_hop_id"]

        accept, reject = await asyncio.gather(
            c.post(f"{base}/hops/{hop}/accept", headers=who(CITY_JUSTICE)),
            c.post(f"{base}/hops/{hop}/reject", json={"reason": "không thuộc thẩm quyền"}, headers=who(CITY_JUSTICE)),
        )
        assert sorted([accept.status_code, reject.status_code]) == [200, 409], (accept.text, reject.text)
        loser = accept if accept.status_code == 409 else reject
        problem(loser, 409, "hop-not-pending")
        j = await env.journey(d.dossier_id)
        assert [h["state"] for h in j["hops"]] in (["accepted"], ["rejected"])
        assert j["holder_unit"] == (CITY_JUSTICE if accept.status_code == 200 else WARD)
        assert j["pending_unit"] is None
        if accept.status_code == 200:
            r1, r2 = await asyncio.gather(
                c.post(f"{base}/complete", json={}, headers=who(CITY_JUSTICE)),
                c.post(f"{base}/complete", json={}, headers=who(CITY_JUSTICE)),
            )
            assert sorted([r1.status_code, r2.status_code]) == [200, 409]
            j = await env.journey(d.dossier_id)
            assert [h["to_unit"] for h in j["hops"]] == [CITY_JUSTICE, PROVINCE_JUSTICE]
        await assert_log_matches(env, d.dossier_id)


async def test_a_refusal_at_the_desk_closes_the_journey(env: Env) -> None:
    """Form 03 after the journey had started: no unit goes on processing a dossier the desk refused."""
    d = received(INTER3)
    await env.start(d)
    await env.intake(
        DossierRefused(dossier_id=d.dossier_id, code=d.code, at=datetime.now(UTC), receiving_unit=WARD,
                       reasons=["Giấy tờ giả mạo"]),
        d.dossier_id,
    )  # fmt: skip
    await env.wait_events(d.dossier_id, "journey.closed.v1")
    j = await env.journey(d.dossier_id)
    assert (j["phase"], j["status"]) == ("closed", 3)
    problem(await env.client.post(f"/journeys/{d.dossier_id}/complete", json={}, headers=env.who(WARD)), 409,
            "journey-closed")  # fmt: skip
    await assert_log_matches(env, d.dossier_id)


async def test_concurrent_commands_read_the_state_the_lock_protects(env: Env) -> None:
    """Commands that both may succeed (two assignments) append one action each, numbered one after the other; of two
    extensions at once only one is granted. On PostgreSQL the action number and the extension used to be read in the
    statement that waited for the row lock, so as they were before the other command: a 500 and a double extension."""
    c, who = env.client, env.who
    for _ in range(3):
        d = received(SIMPLE, days=10)
        j = await env.start(d)
        base = f"/journeys/{d.dossier_id}"
        answers = await asyncio.gather(
            *(c.post(f"{base}/assign", json={"officer": f"cb.{n}"}, headers=who(WARD)) for n in range(2))
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        due_day = datetime.fromisoformat(j["due_at"]).astimezone(VN_TZ).date()
        new_day = CAL.next_working_day(CAL.next_working_day(due_day))
        body = {"new_date": new_day.isoformat(), "reason": "Cần xác minh thêm"}
        answers = await asyncio.gather(*(c.post(f"{base}/extend", json=body, headers=who(WARD)) for _ in range(2)))
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        problem(next(r for r in answers if r.status_code == 409), 409, "already-extended")
        await assert_log_matches(env, d.dossier_id)

"""The overdue sweep and the worklists, with several sweepers at once (tasks and processes): each flag once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from routing.sweep import SweepResult, sweep

from services.clock import VN_TZ
from services.db import Database
from services.identity import Role
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import CAL, CITY_JUSTICE, INTER3, SIMPLE, WARD, WARD_B, Env, received, routing_env
from tests.routing.test_journeys import problem
from tests.support import wait_for

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def env(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> AsyncIterator[Env]:
    async with routing_env(await databases.new("routing"), broker.bootstrap, topic_prefix) as e:
        yield e


async def start_many(env: Env, n: int) -> list[str]:
    # At least 10 working days, so that no first step (a 20 % share) is due within a working day of "now",
    # whatever the day of the week and the hour the test runs at.
    payloads = [received(INTER3 if i % 2 else SIMPLE, days=10 + i) for i in range(n)]
    for p in payloads:
        await env.intake(p, p.dossier_id)
    for p in payloads:
        await env.journey(p.dossier_id)
    return [p.dossier_id for p in payloads]


async def sweep_once(url: str, prefix: str, now: datetime, limit: int = 5000) -> SweepResult:
    db = Database(url, service="routing")
    try:
        async with db.sessionmaker() as session, session.begin():
            return await sweep(session, prefix, now=now, limit=limit)
    finally:
        await db.dispose()


async def sweep_until_done(url: str, prefix: str, now: datetime, limit: int) -> list[SweepResult]:
    """A replica's sweeper catching up in capped runs."""
    results = [await sweep_once(url, prefix, now, limit)]
    while results[-1].more or results[-1].skipped:
        results.append(await sweep_once(url, prefix, now, limit))
    return results


def overdue_events(env: Env) -> Counter[tuple[str, str]]:
    return Counter((d["dossier_id"], d["scope"]) for t, d in env.tap.events if t.endswith("journey.overdue.v1"))


async def settle(env: Env, expected: int, timeout: float = 30) -> None:
    def all_arrived() -> bool:
        return sum(overdue_events(env).values()) >= expected

    await wait_for(all_arrived, timeout, what=lambda: f"{expected} overdue events, saw {overdue_events(env)}")
    await asyncio.sleep(1.0)  # anything extra (a double) would arrive now


async def test_two_concurrent_sweeps_announce_each_flag_once_and_worklists(env: Env) -> None:
    c, who, prefix = env.client, env.who, env.settings.topic_prefix
    ids = await start_many(env, 10)
    today = datetime.now(VN_TZ).date()  # the business date, not the UTC one
    soon = received(SIMPLE, appointment_at=CAL.due_at(CAL.next_working_day(today)))
    await env.start(soon)
    paused = ids[0]
    await c.post(f"/journeys/{paused}/supplement", json={"missing": ["a"], "reason": "thiếu"}, headers=who(WARD))

    # now: only the dossier due on the next working day is due soon (its step too)
    first = await asyncio.gather(*(sweep_once(env.url, prefix, datetime.now(UTC)) for _ in range(2)))
    assert sum(r.due_soon for r in first) == 1 and sum(r.step_due_soon for r in first) == 1
    assert sum(r.overdue for r in first) == 0
    j = await env.journey(soon.dossier_id)
    assert (j["sla_state"], j["step_sla_state"]) == ("due_soon", "due_soon")

    # two months later every running dossier is overdue; two sweepers at once flag each one once
    later = datetime.now(UTC) + timedelta(days=60)
    # (capped at 4 flags per kind and run, so that the two sweepers take turns over several runs)
    runs = await asyncio.gather(*(sweep_until_done(env.url, prefix, later, 4) for _ in range(2)))
    results = [r for rs in runs for r in rs]
    running = [i for i in ids if i != paused] + [soon.dossier_id]
    assert sum(r.overdue for r in results) == len(running)
    assert sum(r.step_overdue for r in results) == len(running)
    assert sorted({d for r in results for d in r.dossiers}) == sorted(running)
    again = await sweep_once(env.url, prefix, later)
    assert again.events == 0
    await settle(env, 2 * len(running))
    events = overdue_events(env)
    assert set(events.values()) == {1} and len(events) == 2 * len(running)
    assert (paused, "dossier") not in events  # a paused clock is never overdue

    # worklists: the ward's dossiers by due date, paged; views by flag; other units may not read them
    seen: list[dict[str, object]] = []
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"view": "overdue", "limit": 4}
        if after:
            params["after"] = after
        r = await c.get(f"/worklists/{WARD}", params=params, headers=who(WARD))
        assert r.status_code == 200, r.text
        page = r.json()
        seen += page["items"]
        after = page["next_cursor"]
        if after is None:
            break
    assert sorted(i["dossier_id"] for i in seen) == sorted(running)
    dues = [(i["step_due_at"], i["dossier_id"]) for i in seen]
    assert dues == sorted(dues)
    waiting = (await c.get(f"/worklists/{WARD}", params={"view": "waiting"}, headers=who(WARD))).json()["items"]
    assert [i["dossier_id"] for i in waiting] == [paused]
    problem(await c.get(f"/worklists/{WARD}", headers=who(WARD_B)), 403, "forbidden")
    problem(await c.get(f"/worklists/{WARD}", params={"view": "nope"}, headers=who(WARD)), 422, "validation-error")

    inter = ids[1]
    await c.post(f"/journeys/{inter}/assign", json={"officer": "tran.thi.b"}, headers=who(WARD))
    mine = (
        await c.get(f"/worklists/{WARD}", params={"view": "todo", "officer": "tran.thi.b"}, headers=who(WARD))
    ).json()
    assert [i["dossier_id"] for i in mine["items"]] == [inter]
    await c.post(f"/journeys/{inter}/complete", json={}, headers=who(WARD))
    incoming = (
        await c.get(f"/worklists/{CITY_JUSTICE}", params={"view": "incoming"}, headers=who(CITY_JUSTICE, Role.LEADER))
    ).json()
    assert [i["dossier_id"] for i in incoming["items"]] == [inter]


async def test_sweeps_in_two_processes_at_once(env: Env) -> None:
    ids = await start_many(env, 8)
    later = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    pythonpath = os.pathsep.join([str(ROOT), str(ROOT / "routing-svc")])
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("sweep_proc.py")),
            env.url,
            env.settings.topic_prefix,
            later,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
        for _ in range(2)
    ]
    outputs = [json.loads((await p.communicate())[0].decode().strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(o["overdue"] for o in outputs) == len(ids)
    assert sum(o["step_overdue"] for o in outputs) == len(ids)
    await settle(env, 2 * len(ids))
    events = overdue_events(env)
    assert set(events.values()) == {1} and {d for d, _ in events} == set(ids)

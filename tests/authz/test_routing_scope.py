"""Leaders read routing's journeys and worklists of their own unit's subtree only (as stats and intake's counts do),
against routing-svc on the real broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.identity import Role
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import (
    CITY,
    CITY_JUSTICE,
    CITY_LABOUR,
    INTER3,
    PROVINCE,
    WARD,
    WARD_B,
    Env,
    received,
    routing_env,
)

pytestmark = pytest.mark.kafka

OTHER_PROVINCE = "000.00.00.H56"  # Thanh Hóa: not in Huế's tree


@pytest.fixture
async def env(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> AsyncIterator[Env]:
    async with routing_env(await databases.new("routing"), broker.bootstrap, topic_prefix) as e:
        yield e


async def test_a_leader_reads_the_journeys_and_worklists_of_their_subtree_only(env: Env) -> None:
    dossier = received(INTER3, unit=WARD)
    await env.start(dossier)
    journey = f"/journeys/{dossier.dossier_id}"
    readers = {
        (WARD, Role.LEADER): 200,
        (CITY, Role.LEADER): 200,  # the ward is in the city's subtree
        (PROVINCE, Role.LEADER): 200,
        (WARD_B, Role.LEADER): 403,  # a sibling ward
        (CITY_JUSTICE, Role.LEADER): 200,  # a later step of the route
        (CITY_LABOUR, Role.LEADER): 403,  # a city department with no part in it
        (OTHER_PROVINCE, Role.LEADER): 403,
        (WARD, Role.DESK_OFFICER): 200,
        (WARD_B, Role.DESK_OFFICER): 403,
    }
    for (unit, role), status in readers.items():
        for path in (journey, f"{journey}/actions", f"{journey}/forms/05"):
            r = await env.client.get(path, headers=env.who(unit, role))
            assert r.status_code == status, (unit, role, path, r.text)
            if status == 403:
                assert r.headers["content-type"] == "application/problem+json"

    worklists = {
        (WARD, WARD): 200,
        (CITY, WARD): 200,
        (CITY, CITY_JUSTICE): 200,
        (PROVINCE, CITY): 200,
        (WARD, CITY): 403,  # a ward leader does not read the city's worklist
        (WARD_B, WARD): 403,
        (OTHER_PROVINCE, WARD): 403,
        (OTHER_PROVINCE, PROVINCE): 403,
    }
    for (own, unit), status in worklists.items():
        r = await env.client.get(f"/worklists/{unit}", headers=env.who(own, Role.LEADER))
        assert r.status_code == status, (own, unit, r.text)
    seen = await env.client.get(f"/worklists/{WARD}", headers=env.who(CITY, Role.LEADER))
    assert dossier.dossier_id in {item["dossier_id"] for item in seen.json()["items"]}
    admin = await env.client.get(f"/worklists/{WARD}", headers=env.who("", Role.ADMIN))
    assert admin.status_code == 200

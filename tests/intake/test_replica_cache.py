"""The in-memory cache over the catalogue replica follows what the replica consumer applies."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from services.contracts.catalogue import OnlineLevel, ProcedureAbolished, ProcessingUnit, UnitOffering, VersionStatus
from services.topics import CATALOGUE_PROCEDURES
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import P_WORKING, WARD, _version, intake_env, submission
from tests.support import publish


async def test_an_abolition_applied_by_the_replica_reaches_the_next_submission(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        # cached answers never expire by age in this test: only the replica consumer can make them stale
        env.context.replica.ttl = 3600.0
        r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 201, r.text

        abolished = ProcedureAbolished(
            code=P_WORKING,
            revision=2,
            versions=[
                _version(P_WORKING, "Đăng ký khai sinh", 3, ProcessingUnit.WORKING_DAYS, effective_to=date(2024, 1, 1)),
                _version(
                    P_WORKING,
                    "Đăng ký khai sinh",
                    3,
                    ProcessingUnit.WORKING_DAYS,
                    version=2,
                    eff=date(2024, 1, 1),
                    status=VersionStatus.ABOLISHED,
                ),
            ],
            units=[UnitOffering(agency_id=WARD, online_level=OnlineLevel.FULL, postal=True)],
        )
        await publish(
            broker.bootstrap, topic_prefix, [(CATALOGUE_PROCEDURES.name, P_WORKING, abolished)], source="/c"
        )
        # The consumer applies the event some time after it is published: ask until the answer changes.
        for _ in range(300):
            r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
            if r.status_code != 201:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("abolished-procedure")

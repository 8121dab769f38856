"""connect-svc on the real broker and database, against the national-portal simulator over HTTP: every dossier and
every step reaches the portal once, in order, through outages, expired sessions and rejections."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from connect.domain import records
from connect.domain.records import Kind

from services.contracts.catalogue import ProcedureContent, ProcedurePublished
from services.events import EventPayload
from services.topics import CATALOGUE_PROCEDURES
from tests.conftest import Broker, DatabaseFactory
from tests.connect.domain.events import journey
from tests.connect.support import Connect, connect_env
from tests.support.catalogue import feed_catalogue
from tests.support.factories import version
from tests.support.wait import wait_for


def new_dossier() -> tuple[str, str, list[EventPayload]]:
    n = uuid.uuid4().hex[:8]
    dossier_id, code = f"d-{n}", f"000.01.31.H57-260302-{n[:4]}"
    return dossier_id, code, journey(dossier_id, code)


def expected(events: list[EventPayload]) -> list[tuple[str, dict[str, Any]]]:
    """(service, record) of every change of the events, folded in order by the domain."""
    view = records.new_view(events[0])
    out = []
    for event in events:
        decision = records.decide(view, event)
        view = decision.dossier
        out += [(records.SERVICE_OF[c.kind], c.record) for c in decision.changes]
    return out


async def all_taken(env: Connect, code: str, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        taken = await env.portal.taken(code)
        assert len(taken) <= count, f"the portal took more than {count} records of {code}"
        return taken if len(taken) == count else None

    return list(await wait_for(check, 60, interval=0.05, what=f"{count} records of {code} at the portal"))


def assert_in_order_once(taken: list[dict[str, Any]], want: list[tuple[str, dict[str, Any]]]) -> None:
    assert [(t["service"], t["record"]) for t in taken] == want
    updating = [t["isUpdating"] for t in taken if t["service"] == records.SERVICE_DOSSIER]
    assert updating == [False] + [True] * (len(updating) - 1)


async def test_a_dossier_received_routed_and_returned_arrives_with_every_step_in_order(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with connect_env(await databases.new("connect"), broker.bootstrap, topic_prefix) as env:
        _, code, events = new_dossier()
        await env.publish_in_order(events)
        want = expected(events)
        assert len(want) == 20
        assert_in_order_once(await all_taken(env, code, len(want)), want)
        state = await env.portal.state()
        assert state["dossiers"][code] == want[-2][1]  # the last dossier record (the journey's close is a step)
        assert state["refused"] == []
        deliveries = await env.deliveries(code)
        assert [d.seq for d in deliveries] == list(range(1, 21))
        await wait_for(lambda: _all_acknowledged(env, code), 60, interval=0.05, what="every delivery acknowledged")
        assert (await env.portal.state())["sign_ins"] == 1


async def _all_acknowledged(env: Connect, code: str) -> bool:
    return all(d.state == "acknowledged" and d.acknowledged_at is not None for d in await env.deliveries(code))


async def test_the_portal_down_for_a_while_then_back_loses_nothing_doubles_nothing_and_keeps_order(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with connect_env(await databases.new("connect"), broker.bootstrap, topic_prefix) as env:
        await env.portal.faults(down=True, status=503)
        dossiers = [new_dossier() for _ in range(3)]
        for _, _, events in dossiers:
            await env.publish_in_order(events)

        async def failed_attempts() -> bool:
            page = await env.list(state="pending")
            return any(item["attempts"] >= 2 and "503" in (item["last_answer"] or "") for item in page["items"])

        await wait_for(failed_attempts, 60, interval=0.05, what="attempts failing while the portal is down")
        assert (await env.portal.state())["log"] == []
        metrics = (await env.client.get("/metrics")).text
        assert 'connect_portal_circuit_open{party="dvcqg"} 1.0' in metrics
        await env.portal.faults(down=False)
        for _, code, events in dossiers:
            assert_in_order_once(await all_taken(env, code, 20), expected(events))
        for _, code, _ in dossiers:
            await wait_for(lambda code=code: _all_acknowledged(env, code), 60, interval=0.05, what="acknowledged")


async def test_an_expired_session_is_renewed_and_the_records_still_go(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with connect_env(await databases.new("connect"), broker.bootstrap, topic_prefix) as env:
        _, code, events = new_dossier()
        await env.publish_in_order(events[:3])
        await all_taken(env, code, 3)
        await env.portal.faults(expire_sessions=True)
        await env.publish_in_order(events[3:])
        assert_in_order_once(await all_taken(env, code, 20), expected(events))
        assert (await env.portal.state())["sign_ins"] == 2


async def test_a_rejected_record_is_parked_with_the_portals_message_and_sent_again_after_a_fix(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with connect_env(await databases.new("connect"), broker.bootstrap, topic_prefix) as env:
        _, code, events = new_dossier()
        message = "MaTTHC: thủ tục không có trong CSDL quốc gia"
        await env.portal.faults(reject={code: message})
        await env.publish_in_order(events)

        async def parked() -> list[dict[str, Any]]:
            return list((await env.list(state="parked"))["items"])

        (item,) = await wait_for(parked, 60, interval=0.05, what="the rejected record parked")
        assert item["dossier_code"] == code and item["kind"] == Kind.DOSSIER.value and item["seq"] == 1
        assert item["last_answer"] == message and item["attempts"] == 1
        await asyncio.sleep(0.3)  # time for a worker that would wrongly send later records
        assert await env.portal.taken(code) == []  # nothing after it went ahead of it
        detail = await env.client.get(f"/{item['id']}", headers=env.admin())
        assert detail.status_code == 200 and detail.json()["payload"]["MaHoSo"] == code

        await env.portal.faults(accept=[code])
        again = await env.client.post(f"/{item['id']}/resend", headers=env.admin())
        assert again.status_code == 200, again.text
        assert (again.json()["state"], again.json()["attempts"]) == ("pending", 0)
        assert_in_order_once(await all_taken(env, code, 20), expected(events))
        await wait_for(lambda: _all_acknowledged(env, code), 60, interval=0.05, what="acknowledged")
        twice = await env.client.post(f"/{item['id']}/resend", headers=env.admin())
        assert twice.status_code == 409 and twice.headers["content-type"] == "application/problem+json"
        missing = await env.client.post("/999999/resend", headers=env.admin())
        assert missing.status_code == 404


async def test_two_replicas_at_once_send_each_record_once_in_order(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    url = await databases.new("connect")
    async with connect_env(
        url, broker.bootstrap, topic_prefix, replicas=2, delivery_batch=2, records_per_call=2
    ) as env:
        await env.portal.faults(slow_seconds=0.05)
        dossiers = [new_dossier() for _ in range(8)]
        # intake's and routing's events at once: either may be read first (the dossier record goes ahead of steps
        # that wait for it)
        ids = await asyncio.gather(*(env.publish(e) for _, _, events in dossiers for e in events))
        for event_id in ids:
            await wait_for(
                lambda event_id=event_id: env.taken_by_connect(event_id), 60, interval=0.05, what="every event taken"
            )
        for _, code, _ in dossiers:
            await wait_for(
                lambda code=code: _all_acknowledged(env, code), 60, interval=0.05, what=f"{code} acknowledged"
            )
        for _, code, _ in dossiers:
            deliveries = await env.deliveries(code)
            # in sequence, but for the first dossier record: it goes ahead of the steps read before it
            first = next(d for d in deliveries if d.kind == Kind.DOSSIER.value)
            in_order = [first, *(d for d in deliveries if d is not first)]
            taken = await env.portal.taken(code)
            assert [(t["service"], t["record"]) for t in taken] == [(d.service, d.payload) for d in in_order]
        tried = [app.state.worker.tried for app in env.apps]
        assert sum(tried) == len(await env.deliveries()) and all(tried), tried  # both worked; nothing twice


async def test_a_step_whose_answer_was_lost_is_not_sent_twice(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with connect_env(await databases.new("connect"), broker.bootstrap, topic_prefix, portal_timeout=0.3) as env:
        _, code, events = new_dossier()
        await env.publish_in_order(events[:1])
        await all_taken(env, code, 1)
        await env.portal.faults(hang_next=1, hang_seconds=1.0)  # takes the next call's records, answers too late
        await env.publish_in_order(events[1:])
        assert_in_order_once(await all_taken(env, code, 20), expected(events))
        await wait_for(lambda: _all_acknowledged(env, code), 60, interval=0.05, what="acknowledged")
        answers = [d.last_answer for d in await env.deliveries(code)]
        assert "already held by the portal (TraCuuHoSo)" in answers
        assert len((await env.portal.state())["log"]) == 20


async def test_the_dossier_record_names_the_procedure_and_field_from_the_catalogue(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    url = await databases.new("connect")
    async with connect_env(url, broker.bootstrap, topic_prefix) as env:
        content = ProcedureContent(
            name="Đăng ký khai sinh",
            field_code="G01-HT",
            field_name="Hộ tịch",
            levels=["commune"],
            competent_agency="UBND cấp xã",
            processing_time=10,
        )
        published = ProcedurePublished(code="1.000001", revision=1, versions=[version("1.000001", content)])
        await feed_catalogue(broker.bootstrap, topic_prefix, url, [(CATALOGUE_PROCEDURES.name, "1.000001", published)])
        _, code, events = new_dossier()
        await env.publish_in_order(events[:1])
        (taken,) = await all_taken(env, code, 1)
        assert (taken["record"]["TenTTHC"], taken["record"]["TenLinhVuc"]) == ("Đăng ký khai sinh", "Hộ tịch")

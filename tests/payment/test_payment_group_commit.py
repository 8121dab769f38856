"""Webhooks applied by group commit: many at once, copies, a bad one among good ones, two replicas, request ids."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

from payment.domain.states import Outcome
from payment.main import build_app
from payment.models import LedgerEntry, Notification
from payment.providers import Notification as Verified
from payment.service import Result
from sqlalchemy import func, select

from tests.conftest import Broker, DatabaseFactory
from tests.harness import serve
from tests.payment.payment_support import Captured, running, short


async def test_many_payments_at_once_each_paid_once(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with running(databases, broker, topic_prefix) as env:
        payos = env.provider("payos")
        payments = []
        for _ in range(25):
            payments.append(await env.start(await env.bill_for(amount=30_000), "payos"))
        short_paid = await env.start(await env.bill_for(amount=30_000), "payos")
        sends = [(p["id"], payos.simulate(p["order_ref"], 30_000, f"FT{p['order_ref']}")) for p in payments] * 3
        sends.append((short_paid["id"], payos.simulate(short_paid["order_ref"], 3_000, "FT-SHORT")))
        random.Random(6).shuffle(sends)

        responses = await asyncio.gather(*(env.send("payos", request) for _, request in sends))
        answers: dict[str, list[dict[str, Any]]] = {}
        for (payment_id, _), response in zip(sends, responses, strict=True):
            answers.setdefault(payment_id, []).append(response.json())
        for payment in payments:
            # One copy applied it; the two others were told it was already processed.
            assert sorted(json.dumps(a) for a in answers[payment["id"]]) == sorted(
                [json.dumps({"success": True})] + [json.dumps({"success": True, "message": "already processed"})] * 2
            )
            assert (await env.payment(payment["id"]))["status"] == "paid"
        assert answers[short_paid["id"]] == [{"success": False, "message": "invalid amount"}]
        assert (await env.payment(short_paid["id"]))["status"] == "pending"

        assert await env.count(Notification.__table__) == 26
        async with env.db.sessionmaker() as session:
            paid = (
                await session.execute(
                    select(LedgerEntry.payment_id, func.count())
                    .where(LedgerEntry.kind == "transition", LedgerEntry.to_status == "paid")
                    .group_by(LedgerEntry.payment_id)
                )
            ).all()
        assert sorted(paid) == sorted((p["id"], 1) for p in payments)
        events = await env.outbox_events()
        paid_events = [(e.data or {})["payment_id"] for e in events if short(e.type) == "payment.paid"]
        assert sorted(paid_events) == sorted(p["id"] for p in payments)
        assert [short(e.type) for e in events].count("payment.flagged") == 1


async def test_a_bad_notification_fails_alone(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    """The database refuses one notification of a batch (an amount beyond BIGINT, which the webhook endpoint would
    have refused): the others of that batch are applied all the same, each in a transaction of its own."""
    async with running(databases, broker, topic_prefix) as env:
        good = [await env.start(await env.bill_for(amount=40_000), "vnpay") for _ in range(6)]
        bad = await env.start(await env.bill_for(amount=40_000), "vnpay")

        def note(payment: dict[str, Any], amount: int, txn: str) -> Verified:
            order_ref = payment["order_ref"]
            return Verified(
                provider="vnpay", provider_txn_id=txn, order_ref=order_ref, amount=amount, status="paid",
                paid_at=None, raw={},
            )  # fmt: skip

        notes = [note(p, 40_000, f"14{i:06d}") for i, p in enumerate(good)]
        notes.insert(3, note(bad, 2**63, "14999999"))
        captured = Captured()
        logging.getLogger("payment.group_commit").addHandler(captured)
        try:
            results = await asyncio.gather(
                *(env.app.state.notifications.apply(n) for n in notes), return_exceptions=True
            )
        finally:
            logging.getLogger("payment.group_commit").removeHandler(captured)

        assert any("webhook_batch_failed" in line for line in captured.lines)  # they did share a transaction
        assert isinstance(results.pop(3), Exception)
        assert all(isinstance(r, Result) and r.outcome is Outcome.APPLIED for r in results), results
        for payment in good:
            assert (await env.payment(payment["id"]))["status"] == "paid"
        assert (await env.payment(bad["id"]))["status"] == "pending"
        assert await env.count(Notification.__table__) == 6
        flags = [e for e in await env.outbox_events() if short(e.type) == "payment.flagged"]
        assert flags == []


async def test_signed_values_our_tables_cannot_hold_are_refused(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with running(databases, broker, topic_prefix) as env:
        payos = env.provider("payos")
        payment = await env.start(await env.bill_for(amount=50_000), "payos")
        huge = await env.send("payos", payos.simulate(payment["order_ref"], 2**63, "FT-HUGE"))
        assert huge.status_code == 400 and huge.json() == {"success": False, "message": "invalid amount"}
        long_txn = await env.send("payos", payos.simulate(payment["order_ref"], 50_000, "FT" + "9" * 63))
        assert long_txn.status_code == 400 and "longer than 64" in long_txn.json()["message"]
        data = json.loads(payos.simulate(payment["order_ref"], 50_000, "FT-LATE").body)["data"]
        late = await env.send("payos", payos.sign_request({**data, "transactionDateTime": "9999-12-31T23:59:59-12:00"}))
        assert late.status_code == 400 and "out of range" in late.json()["message"]
        assert await env.count(Notification.__table__) == 0
        assert (await env.payment(payment["id"]))["status"] == "pending"


async def test_two_replicas_pay_once(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    """Copies of one webhook reach two processes of the service on the same database at the same time."""
    async with running(databases, broker, topic_prefix) as env:
        other = build_app(env.settings)
        async with serve(other) as other_client:
            payments = [await env.start(await env.bill_for(amount=20_000), "momo") for _ in range(5)]
            momo = env.provider("momo")
            requests = [momo.simulate(p["order_ref"], 20_000, f"28{i:08d}") for i, p in enumerate(payments)]

            async def send(client: Any, request: Any) -> int:
                headers = dict(request.headers)
                response = await client.post("/webhooks/momo", content=request.body, headers=headers)
                return int(response.status_code)

            codes = await asyncio.gather(
                *(send(client, r) for r in requests for client in (env.client, other_client, env.client))
            )
            assert set(codes) == {204}
        for payment in payments:
            assert (await env.payment(payment["id"]))["status"] == "paid"
        assert await env.count(Notification.__table__) == 5
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 5


async def test_events_keep_the_request_id(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix) as env:
        zalo = env.provider("zalopay")
        payments = [await env.start(await env.bill_for(amount=10_000), "zalopay") for _ in range(3)]
        await asyncio.gather(
            *(
                env.send(
                    "zalopay",
                    zalo.simulate(p["order_ref"], 10_000, f"2405060000{i}"),
                    headers={"x-request-id": f"req-{p['id']}"},
                )
                for i, p in enumerate(payments)
            )
        )
        paid = [e for e in await env.outbox_events() if short(e.type) == "payment.paid"]
        assert sorted((e.requestid, (e.data or {})["payment_id"]) for e in paid) == sorted(
            (f"req-{p['id']}", p["id"]) for p in payments
        )

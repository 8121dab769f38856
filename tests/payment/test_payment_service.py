"""payment-svc end to end on a real database and broker: bills from intake events, webhooks, refunds, expiry."""

from __future__ import annotations

import asyncio
import uuid

from payment.models import LedgerEntry, Notification
from payment.vietqr import parse_payload

from services.bus.tables import inbox
from services.identity import Identity, Role
from tests.conftest import Broker, DatabaseFactory
from tests.payment.payment_support import (
    OTHER_UNIT,
    UNIT,
    dossier_received,
    dossier_refused,
    payment_topic_events,
    produce_intake,
    running,
    short,
)
from tests.support import wait_for


async def test_bills_from_intake_events(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    paid_id, free_id, refused_id = (str(uuid.uuid4()) for _ in range(3))
    received = dossier_received(paid_id, [30_000, 20_000])
    free = dossier_received(free_id, [0])
    refused = dossier_received(refused_id, [15_000])
    async with running(databases, broker, topic_prefix, relay=True, consumers=True) as env:
        await produce_intake(broker, topic_prefix, [free, received, refused])

        async def bills_open() -> bool:
            a = await env.client.get(f"/dossiers/{paid_id}/bill", headers=env.desk)
            b = await env.client.get(f"/dossiers/{refused_id}/bill", headers=env.desk)
            return a.status_code == 200 and b.status_code == 200 and await env.count(inbox) == 3

        await wait_for(bills_open)
        bill = (await env.client.get(f"/dossiers/{paid_id}/bill", headers=env.desk)).json()
        assert bill["amount"] == 50_000 and bill["status"] == "open" and bill["dossier_code"] == received.code
        assert [i["amount"] for i in bill["items"]] == [30_000, 20_000]
        none = await env.client.get(f"/dossiers/{free_id}/bill", headers=env.desk)
        assert none.status_code == 404 and none.headers["content-type"] == "application/problem+json"

        # A pending payment on the dossier that intake then refuses: bill cancelled; the payment stays pending
        # until its provider says whether the citizen paid (the status query, tests/payment/test_callbacks.py).
        other = (await env.client.get(f"/dossiers/{refused_id}/bill", headers=env.desk)).json()
        started = await env.start(other, "vnpay")
        await produce_intake(broker, topic_prefix, [dossier_refused(refused_id, refused.code)])

        async def cancelled() -> bool:
            r = await env.client.get(f"/dossiers/{refused_id}/bill", headers=env.desk)
            return bool(r.json()["status"] == "cancelled")

        await wait_for(cancelled)
        assert (await env.payment(started["id"]))["status"] == "pending"
        again = await env.client.post(f"/bills/{other['id']}/payments", json={"provider": "momo"}, headers=env.portal)
        assert again.status_code == 409

        # A desk of another unit does not see the bill; the portal may.
        other_desk = env.headers(Identity(subject="d2", role=Role.DESK_OFFICER, unit=OTHER_UNIT))
        assert (await env.client.get(f"/bills/{bill['id']}", headers=other_desk)).status_code == 403
        listed = await env.client.get("/bills", headers=env.desk)
        assert {b["dossier_id"] for b in listed.json()} == {paid_id, refused_id}
        assert (await env.client.get("/bills", headers=other_desk)).json() == []

        events = await payment_topic_events(broker, topic_prefix, expect=4)
        kinds = [short(t) for t, _ in events]
        assert sorted(kinds) == sorted(["bill.requested", "bill.requested", "payment.started", "bill.cancelled"])
        requested = next(d for t, d in events if short(t) == "bill.requested" and d["dossier_id"] == paid_id)
        assert requested["amount"] == 50_000 and requested["dossier_code"] == received.code


async def test_twenty_concurrent_copies_pay_once(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix, relay=True) as env:
        bill = await env.bill_for(amount=75_000)
        payment = await env.start(bill, "payos")
        request = env.provider("payos").simulate(payment["order_ref"], 75_000, "FT24123456789")
        responses = await asyncio.gather(*(env.send("payos", request) for _ in range(20)))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        assert all(r.json()["success"] is True for r in responses)
        assert sum(1 for r in responses if "message" not in r.json()) == 1  # one "ok", 19 "already processed"

        paid = await env.payment(payment["id"])
        assert paid["status"] == "paid" and paid["provider_txn_id"] == "FT24123456789"
        ledger = await env.ledger(bill["id"])
        assert [e["to_status"] for e in ledger if e["kind"] == "transition"] == ["created", "pending", "paid"]
        assert await env.count(Notification.__table__) == 1
        bill_after = (await env.client.get(f"/bills/{bill['id']}", headers=env.desk)).json()
        assert bill_after["status"] == "paid"

        events = await payment_topic_events(broker, topic_prefix, expect=3)
        kinds = [short(t) for t, _ in events]
        assert kinds.count("payment.paid") == 1, kinds
        paid_event = next(d for t, d in events if short(t) == "payment.paid")
        assert paid_event["amount"] == 75_000 and paid_event["online"] is True
        assert paid_event["dossier_code"] == bill["dossier_code"] and paid_event["provider"] == "payos"


async def test_vnpay_ipn_bad_signature_and_failed_after_paid(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with running(databases, broker, topic_prefix) as env:
        vnpay = env.provider("vnpay")
        bill = await env.bill_for(amount=120_000)
        payment = await env.start(bill, "vnpay")

        # Tampered amount: the signature no longer matches → VNPay's own answer (200, RspCode 97), nothing recorded.
        good = vnpay.simulate(payment["order_ref"], 120_000, "14123456")
        tampered = good.query_string.replace("vnp_Amount=12000000", "vnp_Amount=100")
        from payment.providers import SignedRequest

        bad = await env.send("vnpay", SignedRequest("GET", tampered, b"", {}))
        assert bad.status_code == 200 and bad.json() == {"RspCode": "97", "Message": "Invalid signature"}
        missing = await env.send("vnpay", SignedRequest("GET", tampered.split("&vnp_SecureHash=")[0], b"", {}))
        assert missing.status_code == 200 and missing.json()["RspCode"] == "97"
        assert await env.count(Notification.__table__) == 0
        assert await env.count(LedgerEntry.__table__) == 3  # bill opened, created, pending
        assert sum("webhook_signature_rejected" in line for line in env.security_log.lines) == 2

        # Paid (the IPN carries no identity of ours: its signature is the credential), then a late "failed" (an
        # earlier attempt) arrives: the payment stays paid.
        ok = await env.send("vnpay", good)
        assert ok.status_code == 200 and ok.json()["RspCode"] == "00"
        late_failed = vnpay.simulate(payment["order_ref"], 120_000, "0", success=False)
        late = await env.send("vnpay", late_failed)
        assert late.json()["RspCode"] == "02"
        again = await env.send("vnpay", good)
        assert again.json()["RspCode"] == "02"
        paid = await env.payment(payment["id"])
        assert paid["status"] == "paid" and paid["paid_at"] is not None
        ledger = await env.ledger(bill["id"])
        assert [e["to_status"] for e in ledger if e["kind"] == "transition"] == ["created", "pending", "paid"]
        assert [e["kind"] for e in ledger][-1] == "ignored"
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds == ["bill.requested", "payment.started", "payment.paid"]

        # An order nobody knows: "01", nothing recorded.
        unknown = await env.send("vnpay", vnpay.simulate("999999999999999", 1000, "777"))
        assert unknown.json()["RspCode"] == "01"

        # Failed first (customer cancelled) is final too: a new payment is needed.
        bill2 = await env.bill_for(amount=10_000)
        p2 = await env.start(bill2, "vnpay")
        failed = await env.send("vnpay", vnpay.simulate(p2["order_ref"], 10_000, "0", success=False))
        assert failed.json()["RspCode"] == "00"
        assert (await env.payment(p2["id"]))["status"] == "failed"
        p3 = await env.start(bill2, "vnpay")
        assert p3["id"] != p2["id"] and p3["status"] == "pending"


async def test_amount_mismatch_is_flagged_not_paid(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with running(databases, broker, topic_prefix) as env:
        payos = env.provider("payos")
        bill = await env.bill_for(amount=50_000)
        payment = await env.start(bill, "payos")
        short_paid = await env.send("payos", payos.simulate(payment["order_ref"], 5_000, "REF-LOW"))
        assert short_paid.status_code == 400 and short_paid.json()["message"] == "invalid amount"
        repeat = await env.send("payos", payos.simulate(payment["order_ref"], 5_000, "REF-LOW"))
        assert repeat.status_code == 400  # a copy gets the same answer and does nothing more
        assert (await env.payment(payment["id"]))["status"] == "pending"
        flags = [e for e in await env.ledger(bill["id"]) if e["kind"] == "flag"]
        assert len(flags) == 1 and flags[0]["note"].startswith("amount_mismatch") and flags[0]["amount"] == 5_000
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.flagged") == 1 and "payment.paid" not in kinds

        right = await env.send("payos", payos.simulate(payment["order_ref"], 50_000, "REF-OK"))
        assert right.status_code == 200 and right.json() == {"success": True}
        assert (await env.payment(payment["id"]))["status"] == "paid"

        # A second, different transaction for the same order: money taken twice → flagged, stays paid once.
        second = await env.send("payos", payos.simulate(payment["order_ref"], 50_000, "REF-TWICE"))
        assert second.status_code == 200
        flags = [e for e in await env.ledger(bill["id"]) if e["kind"] == "flag"]
        assert [f["note"].split(":")[0] for f in flags] == ["amount_mismatch", "double_payment"]


async def test_refund_limits(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix) as env:
        bill = await env.bill_for(amount=100_000)
        payment = await env.start(bill, "momo")
        url = f"/payments/{payment['id']}/refunds"
        early = await env.client.post(url, json={"amount": 1_000, "reason": "x"}, headers=env.desk)
        assert early.status_code == 409  # not paid yet

        momo = env.provider("momo")
        paid = await env.send("momo", momo.simulate(payment["order_ref"], 100_000, "2800123456"))
        assert paid.status_code == 204 and paid.content == b""
        assert (await env.payment(payment["id"]))["status"] == "paid"

        too_much = await env.client.post(url, json={"amount": 100_001, "reason": "sai"}, headers=env.desk)
        assert too_much.status_code == 422 and too_much.json()["remaining"] == 100_000
        zero = await env.client.post(url, json={"amount": 0, "reason": "sai"}, headers=env.desk)
        assert zero.status_code == 422
        portal = await env.client.post(url, json={"amount": 1_000, "reason": "x"}, headers=env.portal)
        assert portal.status_code == 403

        part = await env.client.post(url, json={"amount": 40_000, "reason": "Hoàn một phần"}, headers=env.desk)
        assert part.status_code == 201 and part.json()["status"] == "partially_refunded"
        over = await env.client.post(url, json={"amount": 60_001, "reason": "x"}, headers=env.desk)
        assert over.status_code == 422 and over.json()["remaining"] == 60_000
        rest = await env.client.post(url, json={"amount": 60_000, "reason": "Hoàn phần còn lại"}, headers=env.desk)
        assert rest.json()["status"] == "refunded" and rest.json()["refunded_amount"] == 100_000
        after = await env.client.post(url, json={"amount": 1, "reason": "x"}, headers=env.desk)
        assert after.status_code == 409

        refunds = [e for e in await env.ledger(bill["id"]) if e["kind"] == "refund"]
        assert [(e["amount"], e["to_status"]) for e in refunds] == [
            (40_000, "partially_refunded"),
            (60_000, "refunded"),
        ]
        events = [e for e in await env.outbox_events() if short(e.type) == "payment.refunded"]
        assert [(e.data or {})["refunded_total"] for e in events] == [40_000, 100_000]
        assert [(e.data or {})["fully_refunded"] for e in events] == [False, True]


async def test_expired_payment(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix, payment_ttl_seconds=0.5) as env:
        bill = await env.bill_for(amount=20_000)
        payment = await env.start(bill, "zalopay")
        await asyncio.sleep(0.7)
        swept = await env.client.post("/payments/expire", headers=env.admin)
        assert swept.json() == {"expired": 1}
        assert (await env.payment(payment["id"]))["status"] == "expired"

        zalo = env.provider("zalopay")
        late = await env.send("zalopay", zalo.simulate(payment["order_ref"], 20_000, "240506000012345"))
        assert late.status_code == 200
        assert late.json() == {"return_code": 2, "return_message": "payment expired"}
        assert (await env.payment(payment["id"]))["status"] == "expired"
        flags = [e for e in await env.ledger(bill["id"]) if e["kind"] == "flag"]
        assert len(flags) == 1 and flags[0]["note"].startswith("paid_when_final")

        # A bad mac: ZaloPay's own answer (200, return_code -1).
        body = zalo.simulate(payment["order_ref"], 20_000, "240506000099999").body.replace(b'"mac":"', b'"mac":"0')
        from payment.providers import SignedRequest

        bad = await env.send("zalopay", SignedRequest("POST", "", body, {"content-type": "application/json"}))
        assert bad.status_code == 200 and bad.json()["return_code"] == -1

        # The bill is still open: a new payment can be made and paid.
        fresh = await env.start(bill, "zalopay")
        ok = await env.send("zalopay", zalo.simulate(fresh["order_ref"], 20_000, "240506000054321"))
        assert ok.json()["return_code"] == 1
        assert (await env.payment(fresh["id"]))["status"] == "paid"
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds == [
            "bill.requested",
            "payment.started",
            "payment.expired",
            "payment.flagged",
            "payment.started",
            "payment.paid",
        ]


async def test_vietqr_of_a_bill(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix, bank_bin="970436", bank_account="0011001234567") as env:
        bill = await env.bill_for(amount=35_000)
        plain = await env.client.get(f"/bills/{bill['id']}/vietqr", headers=env.portal)
        assert plain.status_code == 200
        qr = parse_payload(plain.json()["payload"])
        assert (qr.bank_bin, qr.account, qr.amount) == ("970436", "0011001234567", 35_000)
        assert qr.bill_number == bill["dossier_code"] and qr.purpose == "LE PHI" and qr.dynamic

        payment = await env.start(bill, "payos")
        assert parse_payload(payment["qr_payload"]).reference == payment["order_ref"]
        with_ref = (await env.client.get(f"/bills/{bill['id']}/vietqr", headers=env.desk)).json()
        assert parse_payload(with_ref["payload"]).purpose == f"LE PHI {payment['order_ref']}"
        png = await env.client.get(f"/bills/{bill['id']}/vietqr?format=png", headers=env.desk)
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
        svg = await env.client.get(f"/bills/{bill['id']}/vietqr?format=svg&scale=4", headers=env.desk)
        assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
        other = env.headers(Identity(subject="d9", role=Role.DESK_OFFICER, unit=OTHER_UNIT))
        assert (await env.client.get(f"/bills/{bill['id']}/vietqr", headers=other)).status_code == 403
        missing = await env.client.get("/bills/nope/vietqr", headers=env.desk)
        assert missing.status_code == 404

        # A portal retry returns the pending payment; another provider must wait for it.
        retry = await env.client.post(f"/bills/{bill['id']}/payments", json={"provider": "payos"}, headers=env.portal)
        assert retry.status_code == 200 and retry.json()["id"] == payment["id"]
        clash = await env.client.post(f"/bills/{bill['id']}/payments", json={"provider": "vnpay"}, headers=env.portal)
        assert clash.status_code == 409 and clash.json()["payment_id"] == payment["id"]
        bad = await env.client.post(f"/bills/{bill['id']}/payments", json={"provider": "cash!"}, headers=env.portal)
        assert bad.status_code == 422
        assert UNIT in bill["dossier_code"]

"""Providers' callbacks through the real gateway to a real payment-svc, exactly as each provider sends them (no API
key, no header of ours), and the refusals each provider gets in its own format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from payment import service, settlement
from payment.main import build_app
from payment.models import LedgerEntry, Notification
from payment.providers import SignedRequest
from provider_simulator import Plan, callback_url, send
from provider_simulator import run as wallet_pay

from tests.conftest import Broker, DatabaseFactory
from tests.gateway.support import Running, clear_of_window_edge, run_gateway
from tests.payment.payment_support import Env, running, short

NOWHERE = "http://127.0.0.1:9"  # the other families are not called in these tests


@asynccontextmanager
async def centre(databases: DatabaseFactory, broker: Broker, topic_prefix: str,
                 **gateway: Any) -> AsyncIterator[tuple[Env, Running]]:
    async with running(databases, broker, topic_prefix, http=True) as env:
        upstreams = {"catalogue": NOWHERE, "dossiers": NOWHERE, "routing": NOWHERE, "stats": NOWHERE,
                     "payments": str(env.client.base_url).rstrip("/")}
        async with run_gateway(await databases.new("gw"), upstreams, **gateway) as gw:
            yield env, gw


def callbacks(gw: Running) -> str:
    return f"{gw.url}/api/v1/callbacks"


async def test_every_provider_pays_through_the_gateway_without_credentials_of_ours(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with centre(databases, broker, topic_prefix) as (env, gw):
        for provider in ("payos", "vnpay", "momo", "zalopay"):
            bill = await env.bill_for(amount=35_000)
            payment = await env.start(bill, provider)
            results = await wallet_pay(Plan(provider, payment["order_ref"], 35_000), callbacks(gw), books=env.books)
            assert len(results) == 1 and results[0]["status"] in (200, 204), (provider, results)
            assert (await env.payment(payment["id"]))["status"] == "paid", provider
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 4


async def test_a_vnpay_ipn_by_get_with_vietnamese_text_keeps_its_encoding(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """VNPay signs quote_plus of the values: the gateway must pass the query string on byte for byte."""
    async with centre(databases, broker, topic_prefix) as (env, gw):
        vnpay = env.provider("vnpay")
        bill = await env.bill_for(amount=120_000)
        payment = await env.start(bill, "vnpay")
        fields = {
            "vnp_Amount": "12000000", "vnp_BankCode": "NCB", "vnp_BankTranNo": "VNP14123456", "vnp_CardType": "ATM",
            "vnp_OrderInfo": "Thanh toán lệ phí hồ sơ + phí (50%)", "vnp_PayDate": "20261204101500",
            "vnp_ResponseCode": "00", "vnp_TmnCode": env.settings.vnpay_tmn_code, "vnp_TransactionNo": "14123456",
            "vnp_TransactionStatus": "00", "vnp_TxnRef": payment["order_ref"],
        }  # fmt: skip
        signed = vnpay.sign_request(fields)
        assert "Thanh+to%C3%A1n" in signed.query_string and "%2B" in signed.query_string
        async with httpx.AsyncClient(timeout=10) as http:
            # The same values re-encoded on the way (a proxy turning "%2B" into "+", i.e. "+" into " "): refused.
            mangled = signed.query_string.replace("%2B", "+")
            refused = await http.get(f"{callbacks(gw)}/vnpay?{mangled}")
            assert refused.status_code == 200 and refused.json()["RspCode"] == "97"
            assert (await env.payment(payment["id"]))["status"] == "pending"

            # The citizen's browser comes back first: the page shows VNPay's result, and changes nothing.
            ledger_before = await env.count(LedgerEntry.__table__)
            page = await http.get(f"{callbacks(gw)}/vnpay/return?{signed.query_string}")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "Thanh toán thành công" in page.text and "đang xác nhận" in page.text
            assert "120.000 đồng" in page.text
            assert page.headers["x-content-type-options"] == "nosniff"
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert await env.count(LedgerEntry.__table__) == ledger_before
            assert (await env.payment(payment["id"]))["status"] == "pending"

            ipn = await http.get(f"{callbacks(gw)}/vnpay?{signed.query_string}")
            assert ipn.status_code == 200 and ipn.json() == {"RspCode": "00", "Message": "Confirm Success"}
            assert (await env.payment(payment["id"]))["status"] == "paid"
            again = await http.get(f"{callbacks(gw)}/vnpay/return?{signed.query_string}")
            assert "đã ghi nhận" in again.text

            tampered = signed.query_string.replace("vnp_ResponseCode=00", "vnp_ResponseCode=01")
            forged = await http.get(f"{callbacks(gw)}/vnpay/return?{tampered}")
            assert forged.status_code == 400 and "Không xác thực được" in forged.text
            assert (await env.payment(payment["id"]))["status"] == "paid"


async def test_payos_confirms_the_registered_webhook_url(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """Registering the URL, payOS sends a signed sample webhook of an order we do not have: answered 2xx."""
    async with centre(databases, broker, topic_prefix) as (env, gw):
        providers = env.settings.payos_api_url
        headers = {"x-client-id": env.settings.payos_client_id,
                   "x-api-key": env.settings.payos_api_key.get_secret_value()}
        async with httpx.AsyncClient(timeout=20) as http:
            answer = await http.post(f"{providers}/confirm-webhook", headers=headers,
                                     json={"webhookUrl": f"{callbacks(gw)}/payos"})
        assert answer.json()["code"] == "00", answer.text
        assert await env.count(Notification.__table__) == 0


async def test_refusals_in_each_providers_own_format(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with centre(databases, broker, topic_prefix, rate_limit_callback="5/minute",
                      callback_max_body_bytes=2048, metrics_token="callback-test-metrics") as (env, gw):
        bill = await env.bill_for(amount=20_000)
        payment = await env.start(bill, "zalopay")
        zalo, vnpay = env.provider("zalopay"), env.provider("vnpay")
        await clear_of_window_edge("5/minute")  # the flood below counts exactly (tests/gateway/support.py)
        async with httpx.AsyncClient(timeout=10) as http:
            def to(provider: str) -> str:
                return callback_url(callbacks(gw), provider)

            good = zalo.simulate(payment["order_ref"], 20_000, "240506000012345")
            forged = SignedRequest("POST", "", good.body.replace(b'"mac":"', b'"mac":"0'), good.headers)
            r = await send(http, to("zalopay"), forged)
            assert (r.status_code, r.json()["return_code"]) == (200, -1)

            vnp = vnpay.simulate("999999999999999", 20_000, "1")
            # The hash's last digit changed (it may be a 0 already: the hash depends on the time of payment).
            tampered = vnp.query_string[:-1] + ("1" if vnp.query_string.endswith("0") else "0")
            r = await send(http, to("vnpay"), SignedRequest("GET", tampered, b"", {}))
            assert (r.status_code, r.json()["RspCode"]) == (200, "97")

            # Another merchant's IPN, correctly signed (a terminal sharing the secret): refused, security-logged.
            other = vnpay.sign_request({"vnp_Amount": "2000000", "vnp_TmnCode": "OTHERTMN", "vnp_TxnRef": "1",
                                        "vnp_ResponseCode": "00", "vnp_TransactionStatus": "00",
                                        "vnp_TransactionNo": "5", "vnp_PayDate": "20261204101500"})
            r = await send(http, to("vnpay"), other)
            assert (r.status_code, r.json()["RspCode"]) == (200, "99")
            assert any("webhook_foreign_merchant" in line for line in env.security_log.lines)

            # Too big: refused by the gateway in the provider's format, payment-svc never sees it.
            big = SignedRequest("POST", "", json.dumps({"data": "x" * 4096}).encode(),
                                {"content-type": "application/json"})
            r = await send(http, to("momo"), big)
            assert r.status_code == 413 and "message" in r.json()
            r = await http.get(f"{to('payos')}")  # payOS posts
            assert r.status_code == 405 and r.json()["success"] is False
            assert r.headers["x-content-type-options"] == "nosniff"  # the gateway's own answers too

            # The real one pays; a replay of its transaction with another amount is refused and records nothing.
            r = await send(http, to("zalopay"), good)
            assert r.json() == {"return_code": 1, "return_message": "success"}
            replay = zalo.simulate(payment["order_ref"], 2_000, "240506000012345")
            notes = await env.count(Notification.__table__)
            r = await send(http, to("zalopay"), replay)
            assert r.json()["return_code"] == 0  # "retry later" is all ZaloPay's protocol offers besides 1, 2, -1
            assert await env.count(Notification.__table__) == notes
            assert any("notification_conflicting_replay" in line for line in env.security_log.lines)

            # A flood from one address: the rate limit answers in the provider's format.
            statuses = [(await send(http, to("vnpay"), vnp)).json()["RspCode"] for _ in range(6)]
            assert statuses[-1] == "99"
            metrics = (await http.get(f"{gw.url}/metrics",
                                      headers={"Authorization": "Bearer callback-test-metrics"})).text
            assert 'gateway_callbacks_refused_total{provider="vnpay",reason="rate-limited"}' in metrics
            assert 'gateway_callbacks_refused_total{provider="momo",reason="body-too-large"}' in metrics
            service_metrics = (await env.client.get("/metrics")).text
            assert 'payment_callbacks_total{outcome="bad_signature",provider="zalopay"}' in service_metrics
        assert (await env.payment(payment["id"]))["status"] == "paid"


async def test_path_token_and_source_networks(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    token = "k3y-Only-The-Provider-Knows-42"
    async with centre(databases, broker, topic_prefix, callback_path_tokens={"momo": token},
                      callback_allowed_networks={"zalopay": ["203.0.113.0/24"]}) as (env, gw):
        bill = await env.bill_for(amount=10_000)
        payment = await env.start(bill, "momo")
        async with httpx.AsyncClient(timeout=10) as http:
            ipn = env.provider("momo").simulate(payment["order_ref"], 10_000, "2800000001")
            for url in (callback_url(callbacks(gw), "momo"), callback_url(callbacks(gw), "momo", {"momo": "guess"})):
                r = await send(http, url, ipn)
                assert r.status_code == 404
            assert (await env.payment(payment["id"]))["status"] == "pending"
            r = await send(http, callback_url(callbacks(gw), "momo", {"momo": token}), ipn)
            assert r.status_code == 204
            assert (await env.payment(payment["id"]))["status"] == "paid"

            zalo = env.provider("zalopay").simulate("1", 10_000, "1")
            r = await send(http, callback_url(callbacks(gw), "zalopay"), zalo)  # from 127.0.0.1
            assert (r.status_code, r.json()["return_code"]) == (200, 0)
        assert await env.count(Notification.__table__) == 1


async def test_a_lost_callback_is_found_by_the_status_query_for_every_provider(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with centre(databases, broker, topic_prefix) as (env, gw):
        payments = {}
        for provider in ("payos", "vnpay", "momo", "zalopay"):
            bill = await env.bill_for(amount=15_000)
            payment = await env.start(bill, provider)
            assert await wallet_pay(Plan(provider, payment["order_ref"], 15_000, lose=True), callbacks(gw),
                                    books=env.books) == []
            payments[provider] = payment
        clients = env.app.state.provider_clients
        early = await settlement.sweep(env.db, env.settings, clients)  # not silent for 15 minutes yet
        assert early.queried == 0
        later = service.now() + timedelta(minutes=16)
        report = await settlement.sweep(env.db, env.settings, clients, at=later)
        assert report.queried == 4 and report.answers == {"paid": 4}
        for provider, payment in payments.items():
            got = await env.payment(payment["id"])
            assert (got["status"], got["status_answer"]) == ("paid", "paid"), provider
            ledger = await env.ledger(payment["bill_id"])
            assert any(e["note"] == "paid via status_query" for e in ledger), provider
        # The callback that was lost arrives after all: a harmless duplicate.
        payos = payments["payos"]
        order = env.books.order("payos", payos["order_ref"])
        assert order is not None
        async with httpx.AsyncClient(timeout=10) as http:
            late = await send(http, callback_url(callbacks(gw), "payos"),
                              env.provider("payos").simulate(payos["order_ref"], 15_000, order.txn_id))
        assert late.json() == {"success": True, "message": "already processed"}
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 4


async def test_twenty_copies_of_a_callback_racing_a_status_query_pay_once(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with centre(databases, broker, topic_prefix, rate_limit_callback="1000/minute") as (env, gw):
        bill = await env.bill_for(amount=50_000)
        payment = await env.start(bill, "momo")
        plan = Plan("momo", payment["order_ref"], 50_000, lose=True)
        await wallet_pay(plan, callbacks(gw), books=env.books)
        ipn = env.provider("momo").simulate(payment["order_ref"], 50_000, plan.txn_id)
        clients = env.app.state.provider_clients
        later = service.now() + timedelta(minutes=16)
        async with httpx.AsyncClient(timeout=30) as http:
            answers = await asyncio.gather(
                *(send(http, callback_url(callbacks(gw), "momo"), ipn) for _ in range(20)),
                settlement.sweep(env.db, env.settings, clients, at=later),
            )
        assert all(r.status_code == 204 for r in answers[:20])
        ledger = await env.ledger(bill["id"])
        assert [e["kind"] for e in ledger if e["to_status"] == "paid"] == ["transition", "bill_paid"]
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 1
        assert await env.count(Notification.__table__) == 1


async def test_silent_payments_expire_only_once_the_provider_says_nothing_was_paid(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with running(databases, broker, topic_prefix) as env:
        bill = await env.bill_for(amount=12_000)
        payment = await env.start(bill, "vnpay")  # the citizen never pays
        clients = env.app.state.provider_clients
        later = service.now() + timedelta(minutes=16)
        env.books.failing_queries = 1  # VNPay is down
        report = await settlement.sweep(env.db, env.settings, clients, at=later)
        assert report.answers == {"error": 1}
        got = await env.payment(payment["id"])
        assert (got["status"], got["status_answer"]) == ("pending", "error")  # past its time, but unknown: kept
        again = await settlement.sweep(env.db, env.settings, clients, at=later + timedelta(seconds=30))
        assert again.queried == 0  # asked again only after the back-off
        report = await settlement.sweep(env.db, env.settings, clients, at=later + timedelta(minutes=5))
        assert report.answers == {"not_found": 1}
        got = await env.payment(payment["id"])
        assert (got["status"], got["status_answer"]) == ("expired", "not_found")
        assert [call for call in env.books.calls if call[0] == "vnpay"] == [("vnpay", "querydr")] * 2


async def test_refunds_through_the_provider(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix) as env:
        paid = {}
        for provider in ("vnpay", "momo", "zalopay", "payos"):
            bill = await env.bill_for(amount=100_000)
            payment = await env.start(bill, provider)
            note = env.provider(provider).simulate(payment["order_ref"], 100_000, "7123456789")
            await env.send(provider, note)
            paid[provider] = payment
        url = "/payments/{}/refunds"

        # Refused by the provider: 422 with its message, the ledger unchanged.
        env.books.refuse_refunds = True
        ledger = await env.count(LedgerEntry.__table__)
        refused = await env.client.post(url.format(paid["momo"]["id"]), json={"amount": 30_000, "reason": "Sai"},
                                        headers=env.desk)
        assert refused.status_code == 422 and refused.json()["refund"]["state"] == "refused", refused.text
        assert "not allowed" in refused.json()["detail"]
        assert await env.count(LedgerEntry.__table__) == ledger
        assert (await env.payment(paid["momo"]["id"]))["refunded_amount"] == 0
        env.books.refuse_refunds = False

        # Accepted, per provider.
        for provider in ("vnpay", "zalopay"):
            ok = await env.client.post(url.format(paid[provider]["id"]), json={"amount": 40_000, "reason": "Thừa"},
                                       headers=env.desk)
            assert ok.status_code == 201, ok.text
            assert (ok.json()["status"], ok.json()["refund"]["state"]) == ("partially_refunded", "accepted")

        # payOS has no refund API: staff give it back by hand and record it.
        manual = await env.client.post(url.format(paid["payos"]["id"]), json={"amount": 100_000, "reason": "Hủy"},
                                       headers=env.desk)
        assert manual.status_code == 201 and manual.json()["refund"]["state"] == "manual"
        assert manual.json()["status"] == "refunded"

        # The answer is lost: 202, nothing moves, the amount is held; the sweep asks, never sends it again.
        env.books.lose_refund_answers = 1
        lost = await env.client.post(url.format(paid["momo"]["id"]), json={"amount": 60_000, "reason": "Hoàn"},
                                     headers=env.desk)
        assert lost.status_code == 202 and lost.json()["refund"]["state"] == "unknown", lost.text
        assert lost.json()["refunded_amount"] == 0
        held = await env.client.post(url.format(paid["momo"]["id"]), json={"amount": 50_000, "reason": "x"},
                                     headers=env.desk)
        assert held.status_code == 422 and held.json()["awaiting_provider"] == 60_000
        clients = env.app.state.provider_clients
        report = await settlement.sweep(env.db, env.settings, clients, at=service.now() + timedelta(minutes=2))
        assert report.refunds_checked == 1
        after = await env.payment(paid["momo"]["id"])
        assert (after["status"], after["refunded_amount"]) == ("partially_refunded", 60_000)
        momo_refunds = [c for c in env.books.calls if c == ("momo", "refund")]
        assert len(momo_refunds) == 2  # the refused one and the lost one; the lost one was asked about, not resent
        assert ("momo", "refund-query") in env.books.calls
        events = [e for e in await env.outbox_events() if short(e.type) == "payment.refunded"]
        assert sorted((e.data or {})["refund_amount"] for e in events) == [40_000, 40_000, 60_000, 100_000]


async def test_a_status_answer_that_contradicts_a_final_state_moves_nothing(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """The callback paid the payment between the sweep's claim and its answer; the provider's (stale) answer says
    "failed": the payment stays paid, the answer is recorded as ignored, no event."""
    from payment.providers import Notification as Note

    async with running(databases, broker, topic_prefix) as env:
        bill = await env.bill_for(amount=25_000)
        payment = await env.start(bill, "momo")
        await env.send("momo", env.provider("momo").simulate(payment["order_ref"], 25_000, "2801"))
        events = len(await env.outbox_events())
        failed = Note(provider="momo", provider_txn_id="unpaid:" + payment["order_ref"], order_ref=payment["order_ref"],
                      amount=25_000, status="failed", paid_at=None, raw={})
        async with env.db.sessionmaker() as session, session.begin():
            outcome = await service.settle_from_query(session, env.settings, payment["id"], "failed", failed, "1006")
        assert outcome is service.Outcome.STALE
        got = await env.payment(payment["id"])
        assert (got["status"], got["status_answer"]) == ("paid", "failed")
        assert len(await env.outbox_events()) == events
        assert (await env.ledger(bill["id"]))[-1]["kind"] == "ignored"


async def test_two_replicas_sweeping_at_once_ask_about_each_payment_once(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """Two payment-svc replicas on one database sweep at the same moment: every silent payment is claimed by one of
    them (FOR UPDATE SKIP LOCKED, then its next query moved on), asked about once and paid once."""
    async with running(databases, broker, topic_prefix) as env:
        orders = []
        for _ in range(12):
            bill = await env.bill_for(amount=9_000)
            payment = await env.start(bill, "zalopay")
            plan = Plan("zalopay", payment["order_ref"], 9_000, lose=True)
            await wallet_pay(plan, "http://127.0.0.1:9", books=env.books)
            orders.append(payment)
        other = build_app(env.settings)  # a second replica: its own engine, pool and provider clients
        async with other.router.lifespan_context(other):
            later = service.now() + timedelta(minutes=16)
            reports = await asyncio.gather(
                settlement.sweep(env.db, env.settings, env.app.state.provider_clients, at=later),
                settlement.sweep(other.state.db, env.settings, other.state.provider_clients, at=later),
            )
        assert sum(r.queried for r in reports) == 12
        assert [c for c in env.books.calls if c[0] == "zalopay"] == [("zalopay", "query")] * 12
        for payment in orders:
            assert (await env.payment(payment["id"]))["status"] == "paid"
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 12


async def test_a_payment_made_before_its_dossier_was_withdrawn_is_found_and_flagged_for_refund(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """The citizen paid, the callback was lost, the dossier was withdrawn: cancelling the bill must not expire the
    payment unasked (the money was taken). The status query finds it paid, and it is flagged for a refund."""
    async with running(databases, broker, topic_prefix) as env:
        bill = await env.bill_for(amount=30_000)
        payment = await env.start(bill, "payos")
        await wallet_pay(Plan("payos", payment["order_ref"], 30_000, lose=True), "http://127.0.0.1:9",
                         books=env.books)
        async with env.db.sessionmaker() as session, session.begin():
            await service.cancel_bill(session, env.settings, bill["dossier_id"], "dossier withdrawn")
        assert (await env.payment(payment["id"]))["status"] == "pending"
        later = service.now() + timedelta(minutes=16)
        report = await settlement.sweep(env.db, env.settings, env.app.state.provider_clients, at=later)
        assert report.answers == {"paid": 1}
        assert (await env.payment(payment["id"]))["status"] == "paid"
        flags = [e["note"] for e in await env.ledger(bill["id"]) if e["kind"] == "flag"]
        assert len(flags) == 1 and flags[0].startswith("paid_after_cancel")
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 1 and "payment.expired" not in kinds

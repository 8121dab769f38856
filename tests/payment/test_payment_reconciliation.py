"""Settlement files: every category, idempotent import, corrections as new ledger entries, malformed files."""

from __future__ import annotations

from datetime import datetime

from payment.models import LedgerEntry, Settlement

from services.clock import VN_TZ
from tests.conftest import Broker, DatabaseFactory
from tests.payment.payment_support import running


async def test_reconciliation_every_category(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix) as env:
        payos = env.provider("payos")
        noon = datetime.now(VN_TZ).replace(hour=12, minute=0, second=0, microsecond=0)
        day = noon.date().isoformat()

        async def paid(amount: int, txn: str) -> dict[str, str]:
            bill = await env.bill_for(amount=amount)
            payment = await env.start(bill, "payos")
            r = await env.send("payos", payos.simulate(payment["order_ref"], amount, txn, paid_at=noon))
            assert r.status_code == 200 and r.json() == {"success": True}, r.text
            return payment

        a = await paid(50_000, "T-A")  # matched (and listed twice: duplicate)
        b = await paid(30_000, "T-B")  # they settle another amount
        e = await paid(40_000, "T-E")  # they report it failed
        f = await paid(10_000, "T-F")  # missing from their file
        c = await env.start(await env.bill_for(amount=20_000), "payos")  # webhook lost: still pending

        csv_text = (
            "provider_txn_id,order_ref,amount,currency,status,settled_at\n"
            f"T-A,{a['order_ref']},50000,VND,paid,{day}T12:00:00\n"
            f"T-B,{b['order_ref']},31000,VND,paid,{day}T12:00:00\n"
            f"T-C,{c['order_ref']},20000,VND,paid,{day}T12:05:00\n"
            f"T-E,{e['order_ref']},40000,VND,failed,{day}T12:00:00\n"
            f"T-X,555555555555555,9000,VND,paid,{day}T13:00:00\n"
            f"T-A,{a['order_ref']},50000,VND,paid,{day}T12:00:00\n"
        ).encode()
        url = f"/reconciliations/payos?date={day}&filename=payos-{day}.csv"
        first = await env.client.post(url, content=csv_text, headers={**env.admin, "content-type": "text/csv"})
        assert first.status_code == 200, first.text
        report = first.json()
        assert report["already_imported"] is False
        assert report["summary"] == {
            "matched": 1,
            "missing_ours": 1,
            "missing_theirs": 1,
            "amount_mismatch": 1,
            "status_mismatch": 2,
            "duplicate": 1,
        }
        by_txn = {(line["provider_txn_id"], line["line_no"]): line["category"] for line in report["lines"]}
        assert by_txn == {
            ("T-A", 2): "matched",
            ("T-B", 3): "amount_mismatch",
            ("T-C", 4): "status_mismatch",
            ("T-E", 5): "status_mismatch",
            ("T-X", 6): "missing_ours",
            ("T-A", 7): "duplicate",
            ("T-F", 0): "missing_theirs",
        }
        # The lost webhook is corrected by a new entry: C is paid now, through the state machine.
        corrected = await env.payment(c["id"])
        assert corrected["status"] == "paid" and corrected["provider_txn_id"] == "T-C"
        c_ledger = await env.ledger(corrected["bill_id"])
        assert [(x["kind"], x["to_status"]) for x in c_ledger][-2:] == [("correction", "paid"), ("bill_paid", "paid")]
        # Nothing else changed state; the differences are flags.
        for p, status in ((a, "paid"), (b, "paid"), (e, "paid"), (f, "paid")):
            assert (await env.payment(p["id"]))["status"] == status
        ledger_rows = await env.count(LedgerEntry.__table__)
        kinds = [ev.type.split(".")[4] for ev in await env.outbox_events()]
        assert kinds.count("flagged") == 4  # amount, status (T-E), missing ours, missing theirs

        # The webhook arriving after the correction has no second effect.
        late = await env.send("payos", payos.simulate(c["order_ref"], 20_000, "T-C"))
        assert late.json()["success"] is True and (await env.payment(c["id"]))["status"] == "paid"

        # Same file again: same report, nothing new.
        again = await env.client.post(url, content=csv_text, headers={**env.admin, "content-type": "text/csv"})
        assert again.status_code == 200
        assert again.json()["already_imported"] is True and again.json()["id"] == report["id"]
        assert again.json()["summary"] == report["summary"] and again.json()["lines"] == report["lines"]
        assert await env.count(LedgerEntry.__table__) == ledger_rows
        got = await env.client.get(f"/reconciliations/{report['id']}", headers=env.admin)
        assert got.json()["summary"] == report["summary"]

        # Malformed: a clear 422 with the line, nothing stored.
        bad = csv_text.replace(b"31000", b"31.000,5")
        malformed = await env.client.post(url, content=bad, headers={**env.admin, "content-type": "text/csv"})
        assert malformed.status_code == 422 and malformed.json()["line"] == 3, malformed.text
        no_header = await env.client.post(url, content=b"a,b\n1,2\n", headers=env.admin)
        assert no_header.status_code == 422 and "header" in no_header.json()["detail"]
        assert await env.count(Settlement.__table__) == 1
        assert await env.count(LedgerEntry.__table__) == ledger_rows
        forbidden = await env.client.post(url, content=csv_text, headers=env.desk)
        assert forbidden.status_code == 403

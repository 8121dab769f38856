"""The payment (payment-svc) as a state machine: payments started through each wallet (some twice at once), signed
notifications of the providers (`payment.providers`' `simulate`: paid or failed, the same one repeated or sent twice at
once, a second transaction, a wrong amount), the expiry, and refunds of any amount (some two at once), against
payment-svc on the real database.

Invariants after every step: every payment's status moves only along payment-svc's transitions (a failed, expired or
fully refunded payment never changes again), money never goes negative and refunds never exceed what was paid, the
ledger's refunds add up to each payment's refunded amount, and the bill is paid once some payment is."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from payment.domain import states as ps

from tests.conftest import Broker, DatabaseFactory
from tests.payment.payment_support import Env, running
from tests.stateful.support import BOUNDED, Driver, no_server_error

pytestmark = pytest.mark.kafka

PROVIDERS = ["payos", "momo", "zalopay", "vnpay"]
TTL = 1.0  # seconds a payment stays open (the expiry rule waits this long when one is open)


class PaymentMachine(RuleBasedStateMachine):
    env: Env
    driver: Driver
    #: the statuses the run reached (it must reach them: a machine that never pays proves nothing about refunds)
    seen: set[str]

    def __init__(self) -> None:
        super().__init__()
        self.bill: dict[str, Any] = {}
        self.payments: dict[str, dict[str, Any]] = {}  # id → last seen
        self.txn = 0

    def refresh(self) -> None:
        async def read() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
            bill = no_server_error(await self.env.client.get(f"/bills/{self.bill['id']}", headers=self.env.admin))
            seen = {}
            for pid in self.payments:
                got = no_server_error(await self.env.client.get(f"/payments/{pid}", headers=self.env.admin))
                seen[pid] = got.json()
            return bill.json(), seen

        bill, seen = self.driver.run(read())
        for pid, now in seen.items():
            before = self.payments[pid]
            if before:
                assert now["status"] == before["status"] or now["status"] in ps.TRANSITIONS[before["status"]], (
                    f"payment {pid}: {before['status']} → {now['status']}"
                )
                assert now["refunded_amount"] >= before["refunded_amount"]
            self.payments[pid] = now
            self.seen.add(now["status"])
        self.bill = bill

    def pick(self, index: int, states: frozenset[str]) -> dict[str, Any] | None:
        """One of the payments, among those in `states` when there are some."""
        every = list(self.payments.values())
        some = [p for p in every if p["status"] in states]
        choice = some or every
        return choice[index % len(choice)] if choice else None

    @initialize(amount=st.sampled_from([10_000, 50_000, 120_000]), provider=st.sampled_from(PROVIDERS))
    def open_bill(self, amount: int, provider: str) -> None:
        self.bill = self.driver.run(self.env.bill_for(str(uuid.uuid4()), amount=amount))
        self.start(provider, concurrent=False)

    @rule(provider=st.sampled_from(PROVIDERS), concurrent=st.booleans())
    def start(self, provider: str, concurrent: bool) -> None:
        async def send() -> list[Any]:
            post = lambda: self.env.client.post(  # noqa: E731
                f"/bills/{self.bill['id']}/payments", json={"provider": provider}, headers=self.env.portal
            )
            return list(await asyncio.gather(post(), post())) if concurrent else [await post()]

        answers = [no_server_error(a) for a in self.driver.run(send())]
        started = {a.json()["id"] for a in answers if a.status_code in (200, 201)}
        assert len(started) <= 1, "two payments of one provider started at once"  # a retry gets the same one
        assert sum(a.status_code == 201 for a in answers) <= 1
        for pid in started:
            self.payments.setdefault(pid, {})
        self.refresh()

    @rule(index=st.integers(0, 3), outcome=st.sampled_from(["paid", "paid", "failed"]), copies=st.integers(1, 2),
          concurrent=st.booleans(), new_txn=st.booleans(), wrong_amount=st.integers(0, 7))  # fmt: skip
    def notify(
        self, index: int, outcome: str, copies: int, concurrent: bool, new_txn: bool, wrong_amount: int
    ) -> None:
        """A provider's signed notification about one of the payments (paid, or failed one time in three),
        possibly repeated, with another transaction or a wrong amount."""
        p = self.pick(index, ps.OPEN_STATES)
        if p is None:
            return
        if new_txn or not p.get("provider_txn_id"):
            self.txn += 1
        txn = p.get("provider_txn_id") if not new_txn and p.get("provider_txn_id") else f"{240000000000 + self.txn}"
        amount = p["amount"] + (1_000 if wrong_amount == 0 else 0)
        success = outcome == "paid" or p["provider"] == "zalopay"  # ZaloPay calls back for successful payments only
        request = self.env.provider(p["provider"]).simulate(p["order_ref"], amount, txn, success=success)

        async def send() -> list[Any]:
            if concurrent:
                return list(await asyncio.gather(*(self.env.send(p["provider"], request) for _ in range(copies + 1))))
            return [await self.env.send(p["provider"], request) for _ in range(copies)]

        for answer in self.driver.run(send()):
            assert answer.status_code < 500, answer.text
        self.refresh()

    @rule()
    def expire(self) -> None:
        if not any(p["status"] in ps.OPEN_STATES for p in self.payments.values()):
            return

        async def sweep() -> None:
            await asyncio.sleep(TTL)
            no_server_error(await self.env.client.post("/payments/expire", headers=self.env.admin))

        self.driver.run(sweep())
        self.refresh()
        for p in self.payments.values():
            assert p["status"] not in ps.OPEN_STATES, p

    @rule(index=st.integers(0, 3), share=st.sampled_from(["one", "half", "half", "rest", "more"]),
          concurrent=st.booleans())  # fmt: skip
    def refund(self, index: int, share: str, concurrent: bool) -> None:
        p = self.pick(index, ps.PAID_STATES)
        if p is not None:
            self.give_back(p, share, concurrent)

    @rule(provider=st.sampled_from(PROVIDERS), share=st.sampled_from(["one", "half", "rest", "more"]),
          concurrent=st.booleans())  # fmt: skip
    def paid_then_refunded(self, provider: str, share: str, concurrent: bool) -> None:
        """The wallet pays the open payment (one is started if none is), then the desk gives some back: refunds
        of a paid payment whichever rules this run's swarm left on."""
        p = self.pick(0, ps.OPEN_STATES)
        if p is None or p["status"] not in ps.OPEN_STATES:
            self.start(provider, concurrent=False)
            p = self.pick(0, ps.OPEN_STATES)
        if p is None or p["status"] not in ps.OPEN_STATES:
            return  # the bill is paid or cancelled
        self.txn += 1
        request = self.env.provider(p["provider"]).simulate(p["order_ref"], p["amount"], f"{250000000000 + self.txn}")
        assert self.driver.run(self.env.send(p["provider"], request)).status_code < 500
        self.refresh()
        p = self.payments[p["id"]]
        if p["status"] in ps.PAID_STATES:
            self.give_back(p, share, concurrent)

    def give_back(self, p: dict[str, Any], share: str, concurrent: bool) -> None:
        remaining = p["amount"] - p["refunded_amount"]
        amount = {"one": 1, "half": max(1, remaining // 2), "rest": max(1, remaining), "more": remaining + 1}[share]
        body = {"amount": amount, "reason": "Hoàn phí"}

        async def send() -> list[Any]:
            post = lambda: self.env.client.post(f"/payments/{p['id']}/refunds", json=body, headers=self.env.desk)  # noqa: E731
            return list(await asyncio.gather(post(), post())) if concurrent else [await post()]

        answers = [no_server_error(a) for a in self.driver.run(send())]
        granted = sum(a.status_code == 201 for a in answers)
        if p["status"] not in ps.PAID_STATES or share == "more" or amount > remaining:
            assert granted == 0, [a.text for a in answers]
        elif concurrent and 2 * amount > remaining:
            assert granted <= 1, [a.text for a in answers]
        self.refresh()

    @invariant()
    def money_never_negative_refunds_never_exceed_paid(self) -> None:
        for p in self.payments.values():
            if not p:
                continue
            assert p["amount"] > 0
            assert 0 <= p["refunded_amount"] <= p["amount"], p
            if p["refunded_amount"]:
                assert p["status"] in (ps.PARTIALLY_REFUNDED, ps.REFUNDED), p
            if p["status"] == ps.REFUNDED:
                assert p["refunded_amount"] == p["amount"], p
            if p["status"] in ps.PAID_STATES:
                assert p["provider_txn_id"] and p["paid_at"], p

    @invariant()
    def ledger_agrees(self) -> None:
        if not self.payments:
            return
        ledger = self.driver.run(self.env.ledger(self.bill["id"]))
        for pid, p in self.payments.items():
            refunds = [e["amount"] for e in ledger if e["kind"] == "refund" and e["payment_id"] == pid]
            assert all(a > 0 for a in refunds) and sum(refunds) == p["refunded_amount"], (refunds, p)
            chain = [
                (e["from_status"], e["to_status"])
                for e in ledger
                if e["payment_id"] == pid and e["kind"] in ("transition", "correction", "refund")
            ]
            for before, after in chain:
                if before is not None and before != after:
                    assert after in ps.TRANSITIONS[before], chain
        if any(p and p["status"] in ps.PAID_STATES for p in self.payments.values()):
            assert self.bill["status"] == "paid", self.bill


def test_payment_state_machine(backend: str, broker: Broker, tmp_path: Path, topic_prefix: str) -> None:
    driver = Driver()
    databases = DatabaseFactory(backend, tmp_path)
    try:
        PaymentMachine.env = driver.enter(running(databases, broker, topic_prefix, payment_ttl_seconds=TTL))
        PaymentMachine.driver, PaymentMachine.seen = driver, set()
        run_state_machine_as_test(PaymentMachine, settings=BOUNDED)
        seen = PaymentMachine.seen
        assert {ps.PENDING, ps.PAID, ps.EXPIRED} <= seen and {ps.PARTIALLY_REFUNDED, ps.REFUNDED} & seen, seen
    finally:
        driver.close(databases.drop_all)


async def test_concurrent_refunds_and_starts_serialise(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """What the machine found on PostgreSQL: two refunds at once each read the refunded amount of before the other
    (both granted, the payment then recorded one: more could be refunded than was paid), and two starts at once
    through one wallet made two pending payments."""
    async with running(databases, broker, topic_prefix) as env:
        for n in range(3):
            bill = await env.bill_for(amount=100_000)
            starts = await asyncio.gather(
                *(env.client.post(f"/bills/{bill['id']}/payments", json={"provider": "payos"}, headers=env.portal)
                  for _ in range(2))
            )  # fmt: skip
            assert sorted(r.status_code for r in starts) == [200, 201], [r.text for r in starts]
            assert starts[0].json()["id"] == starts[1].json()["id"]
            payment = starts[0].json()
            paid = env.provider("payos").simulate(payment["order_ref"], 100_000, f"FT2500000000{n}")
            assert (await env.send("payos", paid)).status_code == 200

            url = f"/payments/{payment['id']}/refunds"
            refunds = await asyncio.gather(
                *(env.client.post(url, json={"amount": 60_000, "reason": "Hoàn phí"}, headers=env.desk)
                  for _ in range(2))
            )  # fmt: skip
            assert sorted(r.status_code for r in refunds) == [201, 422], [r.text for r in refunds]
            after = await env.payment(payment["id"])
            ledger = [e["amount"] for e in await env.ledger(bill["id"]) if e["kind"] == "refund"]
            assert (after["refunded_amount"], ledger) == (60_000, [60_000])

"""The journey (routing-svc) as a state machine: random commands by random units, some sent twice at once, and
intake's closing events, against routing-svc on the real broker and database.

Invariants after every step: one holder, a hop pending exactly while the journey awaits its answer (and at most one),
at most one active step, the action log only grows and its fold is the journey's status, every status move of the
fold is an allowed transition, and a closed journey never changes again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from routing.domain import status as rs

from services.contracts.intake import Channel, DossierResultReturned, DossierWithdrawn
from services.contracts.routing import NationalStatus
from services.identity import Role
from tests.conftest import Broker, DatabaseFactory
from tests.routing.support import (
    CITY_JUSTICE,
    INTER2,
    INTER3,
    PROVINCE_JUSTICE,
    SIMPLE,
    WARD,
    Env,
    received,
    routing_env,
)
from tests.stateful.support import BOUNDED, Driver, no_server_error, twice

pytestmark = pytest.mark.kafka

COMMANDS: dict[str, dict[str, Any]] = {
    "complete": {"result": "Giấy chứng nhận", "note": "xong"},
    "assign": {"officer": "cb.xu.ly"},
    "transfer": {},
    "refuse": {"reasons": ["Không đủ điều kiện"]},
    "supplement": {"missing": ["TP01"], "reason": "Thiếu giấy tờ"},
    "resume": {},
    "return": {},
}
#: commands that move the journey: two copies at once never both succeed
NOT_REPEATABLE = {"complete", "transfer", "refuse", "supplement", "resume", "return", "accept", "reject"}
UNITS = st.sampled_from(["holder", "pending", WARD, CITY_JUSTICE, PROVINCE_JUSTICE])
FOLLOWED = ("phase", "status", "holder_unit", "pending_unit", "closed_at", "hops", "steps", "officer")


class JourneyMachine(RuleBasedStateMachine):
    env: Env
    driver: Driver
    #: the phases the run reached (it must reach some: a machine that never moves proves nothing)
    seen: set[str]
    #: journeys started together before the run (one Kafka round trip instead of one per example), per procedure
    ready: dict[str, list[Any]]

    def __init__(self) -> None:
        super().__init__()
        self.d = received(INTER3)
        self.j: dict[str, Any] = {}
        self.log: list[dict[str, Any]] = []
        self.closed: dict[str, Any] | None = None

    @property
    def base(self) -> str:
        return f"/journeys/{self.d.dossier_id}"

    def unit(self, who: str) -> str:
        if who == "holder":
            return str(self.j["holder_unit"])
        if who == "pending":  # the unit the last hop was addressed to (pending or not any more)
            hops = self.j["hops"]
            return str(self.j["pending_unit"] or (hops[-1]["to_unit"] if hops else self.j["holder_unit"]))
        return who

    def refresh(self) -> None:
        async def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            leader = self.env.who(WARD, Role.LEADER)
            j = no_server_error(await self.env.client.get(self.base, headers=leader)).json()
            log = no_server_error(await self.env.client.get(f"{self.base}/actions", headers=leader)).json()
            return j, log

        self.j, log = self.driver.run(read())
        self.seen.add(self.j["phase"])
        assert log[: len(self.log)] == self.log, "the action log was rewritten"
        self.log = log

    @initialize(procedure=st.sampled_from([INTER3, INTER2, SIMPLE]))
    def start(self, procedure: str) -> None:
        if self.ready[procedure]:
            self.d = self.ready[procedure].pop()
        else:
            self.d = received(procedure)
            self.driver.run(self.env.start(self.d))
        self.refresh()

    @rule(command=st.sampled_from(sorted(COMMANDS)), who=UNITS, concurrent=st.booleans())
    def command(self, command: str, who: str, concurrent: bool) -> None:
        unit = self.unit(who)
        headers = self.env.who(unit, Role.DESK_OFFICER if unit == WARD else Role.SPECIALIST)
        answers = self.driver.run(
            twice(lambda: self.env.client.post(f"{self.base}/{command}", json=COMMANDS[command], headers=headers),
                  concurrent)
        )  # fmt: skip
        self.check_answers(command, answers)

    @rule(answer=st.sampled_from(["accept", "reject"]), which=st.sampled_from(["pending", "last", "first"]),
          who=UNITS, concurrent=st.booleans())  # fmt: skip
    def answer_hop(self, answer: str, which: str, who: str, concurrent: bool) -> None:
        hops = self.j["hops"]
        last = hops[-1]["id"] if hops else 1
        hop_id = {"pending": self.j["pending_hop_id"] or last, "last": last, "first": hops[0]["id"] if hops else 1}[
            which
        ]
        headers = self.env.who(self.unit(who))
        body = {"reason": "Không thuộc thẩm quyền"} if answer == "reject" else None
        answers = self.driver.run(
            twice(lambda: self.env.client.post(f"{self.base}/hops/{hop_id}/{answer}", json=body, headers=headers),
                  concurrent)
        )  # fmt: skip
        self.check_answers(answer, answers)

    @rule(accept_first=st.booleans())
    def accept_and_reject_at_once(self, accept_first: bool) -> None:
        """The addressed unit's two officers answer the pending hop differently at the same moment."""
        hop_id = self.j["pending_hop_id"] or (self.j["hops"][-1]["id"] if self.j["hops"] else 1)
        headers = self.env.who(self.unit("pending"))
        url = f"{self.base}/hops/{hop_id}"
        sends = [
            self.env.client.post(f"{url}/accept", headers=headers),
            self.env.client.post(f"{url}/reject", json={"reason": "Sai nơi nhận"}, headers=headers),
        ]
        if not accept_first:
            sends.reverse()

        async def both() -> list[Any]:
            return list(await asyncio.gather(*sends))

        answers = [no_server_error(r) for r in self.driver.run(both())]
        assert sum(r.status_code == 200 for r in answers) <= 1, [r.text for r in answers]
        self.refresh()

    @rule(concurrent=st.booleans())
    def advance(self, concurrent: bool) -> None:
        """What the journey waits for, by the unit that may do it: deeper states than random commands reach."""
        phase = self.j["phase"]
        if phase == "awaiting":
            path, unit, body = f"hops/{self.j['pending_hop_id']}/accept", self.j["pending_unit"], None
        elif phase in ("active", "paused", "routing", "processed"):
            command = {"active": "complete", "paused": "resume", "routing": "transfer", "processed": "return"}[phase]
            path, unit, body = command, self.j["holder_unit"], COMMANDS[command]
        else:
            return
        headers = self.env.who(unit)
        answers = self.driver.run(
            twice(lambda: self.env.client.post(f"{self.base}/{path}", json=body, headers=headers), concurrent)
        )
        assert any(r.status_code == 200 for r in answers), [r.text for r in answers]
        self.check_answers(path.rsplit("/", 1)[-1], answers)

    @rule(kind=st.sampled_from(["withdrawn", "returned"]))
    def intake_closes(self, kind: str) -> None:
        """Intake's closing events; it returns a result only once the result is at the desk (its own rule)."""
        if kind == "returned" and self.j["phase"] != "at_desk":
            return
        at = datetime.now(UTC)
        event = (
            DossierWithdrawn(dossier_id=self.d.dossier_id, code=self.d.code, at=at, reason="Xin rút")
            if kind == "withdrawn"
            else DossierResultReturned(dossier_id=self.d.dossier_id, code=self.d.code, at=at, channel=Channel.POSTAL)
        )
        first_close = self.j["phase"] != "closed"
        self.driver.run(self.env.intake(event, self.d.dossier_id))
        if first_close:
            self.driver.run(self.env.wait_events(self.d.dossier_id, "journey.closed.v1"))
        self.refresh()

    def check_answers(self, command: str, answers: list[Any]) -> None:
        if command in NOT_REPEATABLE:
            assert sum(r.status_code == 200 for r in answers) <= 1, [r.text for r in answers]
        before = self.j
        self.refresh()
        if all(r.status_code != 200 for r in answers):  # a refused command changes nothing
            assert {k: self.j[k] for k in FOLLOWED} == {k: before[k] for k in FOLLOWED}, answers[0].text

    @invariant()
    def one_holder_and_at_most_one_pending_hop(self) -> None:
        if not self.j:
            return
        j = self.j
        assert j["holder_unit"]
        pending = [h for h in j["hops"] if h["state"] == "requested"]
        assert len(pending) <= 1
        if j["phase"] == "awaiting":
            assert len(pending) == 1
            assert (j["pending_unit"], j["pending_hop_id"]) == (pending[0]["to_unit"], pending[0]["id"])
        else:
            assert not pending and j["pending_unit"] is None and j["pending_hop_id"] is None
        assert sum(s["state"] == "active" for s in j["steps"]) <= 1

    @invariant()
    def statuses_move_forward_along_allowed_transitions(self) -> None:
        if not self.j:
            return
        status: NationalStatus | None = None
        for a in self.log:
            new = rs.next_status(status, a["action"], a.get("data"))
            assert rs.allowed(status, new), f"{status} → {new} by {a['action']}"
            status = new
        assert status is not None and int(status) == self.j["status"]
        assert 1 <= self.j["status"] <= 10

    @invariant()
    def closed_stays_closed(self) -> None:
        if not self.j:
            return
        if self.closed is not None:
            assert {k: self.j[k] for k in FOLLOWED} == self.closed
        elif self.j["phase"] == "closed":
            assert self.j["closed_at"] and self.j["status"] in (8, 10)
            self.closed = {k: self.j[k] for k in FOLLOWED}


async def start_journeys(env: Env, n: int) -> dict[str, list[Any]]:
    ready = {p: [received(p) for _ in range(n)] for p in (INTER3, INTER2, SIMPLE)}
    for d in (d for ds in ready.values() for d in ds):
        await env.intake(d, d.dossier_id)
    for d in (d for ds in ready.values() for d in ds):
        await env.journey(d.dossier_id)
    return ready


def test_journey_state_machine(backend: str, broker: Broker, tmp_path: Path, topic_prefix: str) -> None:
    driver = Driver()
    databases = DatabaseFactory(backend, tmp_path)
    try:
        url = driver.run(databases.new("routing"))
        JourneyMachine.env = driver.enter(routing_env(url, broker.bootstrap, topic_prefix))
        JourneyMachine.driver = driver
        JourneyMachine.seen = set()
        JourneyMachine.ready = driver.run(start_journeys(JourneyMachine.env, BOUNDED.max_examples))
        run_state_machine_as_test(JourneyMachine, settings=BOUNDED)
        assert {"active", "awaiting", "closed"} <= JourneyMachine.seen, JourneyMachine.seen
    finally:
        driver.close(databases.drop_all)

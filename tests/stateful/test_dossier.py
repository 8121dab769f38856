"""The dossier (intake-svc) as a state machine: submissions with an Idempotency-Key sent twice (at once or one after
the other), the desk's and the portal's commands (some two at once), and routing's events in any order (some sent
twice under one event id, as a redelivery), against intake-svc on the real broker and database.

Invariants after every step: the status moves only along intake's allowed transitions and its national code is the
one of the status, the history only grows, a closed dossier (refused, withdrawn, result returned) never changes again
and has exactly one closing step, and a result was returned only after routing had brought it to the desk."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from intake.schemas import CLOSED, NATIONAL_STATUS, Status, can_move
from sqlalchemy import func, select

from services.bus.tables import inbox
from services.contracts import routing as r
from services.db import Database
from services.events import CloudEvent, EventPayload, new_event
from services.topics import ROUTING_JOURNEYS
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import CITY, PHONE, WARD, Env, intake_env, submission
from tests.stateful.support import BOUNDED, Driver, no_server_error, twice
from tests.support import Publisher, wait_for

pytestmark = pytest.mark.kafka

CLOSING = {"refused", "withdrawn", "result_returned"}
COMMANDS: dict[str, dict[str, Any]] = {
    "supplement-request": {"missing": ["GCS"], "reason": "Giấy chứng sinh bị mờ"},
    "supplement": {"documents": [{"component_code": "GCS"}]},
    "refuse": {"reasons": ["Giấy tờ giả mạo"]},
    "withdraw": {"reason": "Xin rút hồ sơ"},
    "return-result": {"channel": "in_person"},
}
ROUTING = ["started", "hop", "supplement_requested", "resumed", "processed_here", "processed_city", "at_desk"]


class Kafka:
    """routing's side: events of a dossier published as routing-svc's relay does, and the wait until intake applied
    them (their ids in intake's inbox)."""

    def __init__(self, env: Env, publisher: Publisher, db: Database) -> None:
        self.env, self.publisher, self.db = env, publisher, db

    async def send(self, event: CloudEvent, dossier_id: str) -> None:
        assert event.subject == dossier_id
        await self.publisher.send_event(ROUTING_JOURNEYS.name, event)

        async def applied() -> bool:
            async with self.db.sessionmaker() as session:
                query = select(func.count()).select_from(inbox).where(inbox.c.event_id == event.id)
                return bool(await session.scalar(query))

        await wait_for(applied, 30, 0.05, what=f"intake did not apply {event.type}")


class DossierMachine(RuleBasedStateMachine):
    env: Env
    driver: Driver
    kafka: Kafka

    def __init__(self) -> None:
        super().__init__()
        self.d: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.closed: dict[str, Any] | None = None
        self.result_at_desk = False  # routing announced the result at the desk while the dossier was open
        self.previous: str | None = None

    @property
    def base(self) -> str:
        return f"/dossiers/{self.d['id']}"

    def refresh(self) -> None:
        async def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            desk = self.env.desk()
            d = no_server_error(await self.env.client.get(self.base, headers=desk)).json()
            track = await self.env.client.get(f"/tracking/{d['code']}", params={"phone": PHONE}, headers=desk)
            return d, no_server_error(track).json()["steps"]

        self.previous = self.d.get("status")
        self.d, history = self.driver.run(read())
        assert history[: len(self.history)] == self.history, "the history was rewritten"
        self.history = history

    @initialize(complete=st.booleans(), concurrent=st.booleans())
    def submit(self, complete: bool, concurrent: bool) -> None:
        body = submission(documents=("TK", "GCS") if complete else ("TK",), on_incomplete="request_supplement")
        headers = {**self.env.desk(), "idempotency-key": uuid.uuid4().hex}

        async def both() -> list[Any]:
            send = lambda: self.env.client.post("/dossiers", json=body, headers=headers)  # noqa: E731
            if concurrent:
                return [no_server_error(x) for x in await asyncio.gather(send(), send())]
            return [no_server_error(await send()), no_server_error(await send())]

        first, second = self.driver.run(both())
        assert first.status_code == second.status_code == 201, (first.text, second.text)
        assert first.json()["id"] == second.json()["id"], "one Idempotency-Key, two dossiers"
        assert sorted(x.headers.get("idempotent-replayed", "") for x in (first, second)) == ["", "true"]
        self.d = first.json()
        self.refresh()

    @rule(command=st.sampled_from(sorted(COMMANDS)), portal=st.booleans(), concurrent=st.booleans())
    def command(self, command: str, portal: bool, concurrent: bool) -> None:
        headers = self.env.portal() if portal and command in ("supplement", "withdraw") else self.env.desk()
        may_return = self.result_at_desk and self.d["status"] == "processed"
        answers = self.driver.run(
            twice(lambda: self.env.client.post(f"{self.base}/{command}", json=COMMANDS[command], headers=headers),
                  concurrent)
        )  # fmt: skip
        assert sum(x.status_code == 200 for x in answers) <= 1, [x.text for x in answers]
        if command == "return-result":
            assert any(x.status_code == 200 for x in answers) == may_return, [x.text for x in answers]
        before = self.d
        self.refresh()
        if all(x.status_code != 200 for x in answers):
            assert self.d == before, answers[0].text

    @rule(kind=st.sampled_from(ROUTING), redelivered=st.booleans())
    def routing_event(self, kind: str, redelivered: bool) -> None:
        """One of routing's events (only about a dossier routing has heard of: one that was received)."""
        if self.d["received_at"] is None:
            return
        payload = self.routing_payload(kind)
        event = new_event(payload, source="/routing", subject=self.d["id"])
        self.driver.run(self.kafka.send(event, self.d["id"]))
        if redelivered:  # at-least-once delivery: the same event again has no effect
            self.driver.run(self.kafka.send(event, self.d["id"]))
        if kind in ("at_desk", "processed_here") and self.d["status"] not in {s.value for s in CLOSED}:
            self.result_at_desk = True
        before = self.d
        self.refresh()
        if self.previous in {s.value for s in CLOSED}:
            assert self.d == before

    def routing_payload(self, kind: str) -> EventPayload:
        ref = {"dossier_id": self.d["id"], "code": self.d["code"], "at": datetime.now().astimezone()}
        due = datetime.fromisoformat(self.d["appointment_at"] or self.d["received_at"]) + timedelta(days=3)
        processed = {"status": r.NationalStatus.PROCESSED, "outcome": r.Outcome.APPROVED, "result": "GCN",
                     "due_at": due, "late": False}  # fmt: skip
        match kind:
            case "started":
                return r.JourneyStarted(
                    **ref, status=r.NationalStatus.NEW, procedure_code=self.d["procedure_code"], procedure_version=1,
                    field_code="G03-HT01", receiving_unit=WARD, inter_level=True, steps=[], due_at=due,
                )  # fmt: skip
            case "hop":
                return r.HopRequested(
                    **ref, status=r.NationalStatus.PROCESSING, hop_id=1, kind=r.HopKind.FORWARD, from_unit=WARD,
                    to_unit=CITY, step_seq=2, actor="cb", actor_unit=WARD,
                )  # fmt: skip
            case "supplement_requested":
                return r.SupplementRequested(
                    **ref, status=r.NationalStatus.SUPPLEMENT_REQUESTED, unit=CITY, receiving_unit=WARD,
                    missing=["GCS"], reason="Thiếu giấy chứng sinh",
                )  # fmt: skip
            case "resumed":
                return r.JourneyResumed(
                    **ref, status=r.NationalStatus.PROCESSING, unit=CITY, paused_working_days=1, due_at=due
                )
            case "processed_here":
                return r.JourneyProcessed(**ref, unit=WARD, **processed)
            case "processed_city":
                return r.JourneyProcessed(**ref, unit=CITY, **processed)
            case _:
                return r.ResultAtDesk(
                    **ref, status=r.NationalStatus.PROCESSED, receiving_unit=WARD, outcome=r.Outcome.APPROVED
                )

    @invariant()
    def status_moves_along_allowed_transitions(self) -> None:
        if not self.d:
            return
        if self.previous is not None:
            assert can_move(self.previous, Status(self.d["status"])), f"{self.previous} → {self.d['status']}"
        assert self.d["national_status"] == NATIONAL_STATUS[Status(self.d["status"])]

    @invariant()
    def closed_stays_closed_with_one_closing_step(self) -> None:
        if not self.d:
            return
        closing = [s for s in self.history if s["action"] in CLOSING]
        if self.d["status"] in CLOSING:
            assert self.d["closed_at"] is not None
            assert [s["action"] for s in closing] == [self.d["status"]]
            if self.closed is None:
                self.closed = self.d
            assert self.d == self.closed
        else:
            assert not closing and self.closed is None and self.d["closed_at"] is None


def test_dossier_state_machine(backend: str, broker: Broker, tmp_path: Path, topic_prefix: str) -> None:
    driver = Driver()
    databases = DatabaseFactory(backend, tmp_path)
    try:
        env = driver.enter(intake_env(databases, broker, topic_prefix, tmp_path))
        publisher = driver.enter(Publisher(broker.bootstrap, topic_prefix, source="/routing"))
        db = Database(env.url)
        DossierMachine.env, DossierMachine.driver = env, driver
        DossierMachine.kafka = Kafka(env, publisher, db)
        try:
            run_state_machine_as_test(DossierMachine, settings=BOUNDED)
        finally:
            driver.run(db.dispose())
    finally:
        driver.close(databases.drop_all)

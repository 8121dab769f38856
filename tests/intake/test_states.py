"""The dossier's state machine at intake: a result is returned only once it is at the desk, routing's events never
move a dossier backwards or out of a closed state, and commands on one dossier serialise."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from services.contracts import routing as r
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import (
    CITY,
    Env,
    intake_env,
    journey_started,
    result_at_desk,
    routing_events,
    submission,
)


def conflict(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + code), body
    return body


def ref(env: Env, d: dict[str, Any]) -> dict[str, Any]:
    return {"dossier_id": d["id"], "code": d["code"], "at": env.clock()}


async def test_a_result_is_returned_only_once_it_is_at_the_desk(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        ret = f"/dossiers/{d['id']}/return-result"
        # received, nothing processed yet
        body = conflict(await c.post(ret, json={"channel": "in_person"}, headers=desk), "result-not-at-desk")
        assert body["dossier_status"] == "received"

        # handed over, a hop pending at the city
        hop = r.HopRequested(
            **ref(env, d), status=r.NationalStatus.PROCESSING, hop_id=1, kind=r.HopKind.FORWARD,
            from_unit=d["receiving_unit"], to_unit=CITY, step_seq=2, actor="cb", actor_unit=d["receiving_unit"],
        )  # fmt: skip
        await routing_events(env, d, journey_started(d, env.clock()), hop)
        body = conflict(await c.post(ret, json={"channel": "in_person"}, headers=desk), "result-not-at-desk")
        assert body["dossier_status"] == "processing"

        # decided at the city: the result has still to travel back
        processed = r.JourneyProcessed(
            **ref(env, d), status=r.NationalStatus.PROCESSED, unit=CITY, outcome=r.Outcome.APPROVED, result="GCN",
            due_at=d["appointment_at"], late=False,
        )  # fmt: skip
        await routing_events(env, d, processed)
        body = conflict(await c.post(ret, json={"channel": "in_person"}, headers=desk), "result-not-at-desk")
        assert body["dossier_status"] == "processed"
        got = (await c.get(f"/dossiers/{d['id']}", headers=desk)).json()
        assert got["status"] == "processed" and got["closed_at"] is None

        back = r.ResultAtDesk(
            **ref(env, d), status=r.NationalStatus.PROCESSED, receiving_unit=d["receiving_unit"],
            outcome=r.Outcome.APPROVED,
        )  # fmt: skip
        await routing_events(env, d, back)
        r2 = await c.post(ret, json={"channel": "in_person"}, headers=desk)
        assert r2.status_code == 200 and r2.json()["status"] == "result_returned", r2.text

        # decided by the receiving unit itself: the result is at the desk without a hop back
        own = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        await result_at_desk(env, own)
        r3 = await c.post(f"/dossiers/{own['id']}/return-result", json={"channel": "in_person"}, headers=desk)
        assert r3.status_code == 200, r3.text


async def test_routing_events_never_move_a_dossier_backwards(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        # the desk sends the dossier back for a supplement before it saw the journey start: the start does not
        # hide the request, and the completed supplement goes on with the processing that had begun
        d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        ask = {"missing": ["GCS"], "reason": "Giấy chứng sinh bị mờ"}
        assert (await c.post(f"/dossiers/{d['id']}/supplement-request", json=ask, headers=desk)).status_code == 200
        await routing_events(env, d, journey_started(d, env.clock()))
        got = (await c.get(f"/dossiers/{d['id']}", headers=desk)).json()
        assert got["status"] == "supplement_requested" and got["national_status"] == 5
        done = await c.post(
            f"/dossiers/{d['id']}/supplement", json={"documents": [{"component_code": "GCS"}]}, headers=desk
        )
        assert done.status_code == 200 and done.json()["status"] == "processing", done.text

        # a withdrawn dossier stays withdrawn whatever routing says afterwards, and takes no command
        w = (await c.post("/dossiers", json=submission(), headers=desk)).json()
        await routing_events(env, w, journey_started(w, env.clock()))
        assert (await c.post(f"/dossiers/{w['id']}/withdraw", json={"reason": "rút"}, headers=desk)).status_code == 200
        late = [
            r.JourneyResumed(
                **ref(env, w), status=r.NationalStatus.PROCESSING, unit=w["receiving_unit"], paused_working_days=0,
                due_at=w["appointment_at"],
            ),
            r.SupplementRequested(
                **ref(env, w), status=r.NationalStatus.SUPPLEMENT_REQUESTED, unit=w["receiving_unit"],
                receiving_unit=w["receiving_unit"], missing=["GCS"], reason="x",
            ),
            r.JourneyProcessed(
                **ref(env, w), status=r.NationalStatus.PROCESSED, unit=w["receiving_unit"],
                outcome=r.Outcome.APPROVED, result="x", due_at=w["appointment_at"], late=False,
            ),
        ]  # fmt: skip
        await routing_events(env, w, *late, steps=2)  # no history step for the request: it is void
        got = (await c.get(f"/dossiers/{w['id']}", headers=desk)).json()
        assert (got["status"], got["national_status"], got["missing"]) == ("withdrawn", 8, [])
        for path, body in [
            ("return-result", {"channel": "in_person"}),
            ("withdraw", {"reason": "x"}),
            ("refuse", {"reasons": ["x"]}),
            ("supplement-request", ask),
            ("supplement", {"documents": [{"component_code": "GCS"}]}),
        ]:
            conflict(await c.post(f"/dossiers/{w['id']}/{path}", json=body, headers=desk), "dossier-closed")


async def test_concurrent_commands_on_one_dossier_serialise(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c, desk = env.client, env.desk()
        for _ in range(3):
            d = (await c.post("/dossiers", json=submission(), headers=desk)).json()
            await result_at_desk(env, d)
            returned, withdrawn = await asyncio.gather(
                c.post(f"/dossiers/{d['id']}/return-result", json={"channel": "in_person"}, headers=desk),
                c.post(f"/dossiers/{d['id']}/withdraw", json={"reason": "rút"}, headers=desk),
            )
            assert sorted([returned.status_code, withdrawn.status_code]) == [200, 409], (returned.text, withdrawn.text)
            winner = returned if returned.status_code == 200 else withdrawn
            conflict(withdrawn if winner is returned else returned, "dossier-closed")
            got = (await c.get(f"/dossiers/{d['id']}", headers=desk)).json()
            assert got["status"] == winner.json()["status"]
            track = (
                await c.get(f"/tracking/{d['code']}", params={"phone": d["applicant"]["phone"]}, headers=desk)
            ).json()
            closing = [s["action"] for s in track["steps"] if s["action"] in ("result_returned", "withdrawn")]
            assert closing == [got["status"]]

            twice = await asyncio.gather(
                *[
                    c.post(f"/dossiers/{x['id']}/refuse", json={"reasons": ["Giấy tờ giả"]}, headers=desk)
                    for x in [(await c.post("/dossiers", json=submission(), headers=desk)).json()] * 2
                ]
            )
            assert sorted(t.status_code for t in twice) == [200, 409]

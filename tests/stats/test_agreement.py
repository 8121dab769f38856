"""Stats' figures agree exactly with intake's own counts for the same period.

A scripted set of dossiers is filed through intake-svc itself (desk, post, portal; a supplement completed inside the
period for a dossier filed before it, one still waiting for its supplement, a refusal, a withdrawal, a result
returned, accounts assisted; receipts just inside and just outside the period's edges in Vietnamese time). Intake's
relay publishes the events to the real broker, stats-svc consumes them, and for each scope stats' quarterly report
and form II.06a equal intake's `GET /counts`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from stats.main import build_app as build_stats
from stats.settings import Settings as StatsSettings

from services.identity import HEADER, Identity, Role, mint
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve
from tests.intake.support import CITY, WARD, WARD2, Env, intake_env, result_at_desk, submission

PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}
PDF = b"%PDF-1.4\n% agreement test\n" + b"0" * 100


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _online(env: Env, **extra: Any) -> dict[str, Any]:
    uploads = {}
    for comp in ("TK", "GCS"):
        up = await env.client.post(
            "/uploads", files={"file": (f"{comp}.pdf", PDF, "application/pdf")}, headers=env.portal()
        )
        uploads[comp] = _ok(up, 201)["id"]
    body = submission(channel="online", uploads=uploads, receiving_unit=WARD, **extra)
    return _ok(await env.client.post("/dossiers", json=body, headers=env.portal()), 201)  # type: ignore[no-any-return]


async def _file_scripted_dossiers(env: Env) -> int:
    """What the desks and the portal do over February to April 2026; returns how many dossiers were received."""
    c, desk, desk2 = env.client, env.desk(), env.desk(unit=WARD2, subject="desk-2")
    received = 0

    async def desk_submit(headers: dict[str, str], **extra: Any) -> dict[str, Any]:
        nonlocal received
        d = _ok(await c.post("/dossiers", json=submission(**extra), headers=headers), 201)
        received += d["received_at"] is not None
        return d  # type: ignore[no-any-return]

    # Before the period: one received (23:59 on the eve, Vietnamese time), one sent back for a supplement.
    env.clock.set_vn(2026, 2, 27, 9)
    await desk_submit(desk)
    waiting = await desk_submit(desk, documents=["TK"], on_incomplete="request_supplement")
    env.clock.set_vn(2026, 2, 28, 23, 59)
    await desk_submit(desk2)

    # Inside the period.
    env.clock.set_vn(2026, 3, 1, 0, 1)  # the first minute of the period: still 28 Feb in UTC
    await desk_submit(desk, account_assisted=True)
    env.clock.set_vn(2026, 3, 2, 10)
    await desk_submit(desk, channel="postal")
    online = await _online(env)
    received += 1
    withdrawn = await _online(env)
    received += 1
    env.clock.set_vn(2026, 3, 3, 14)
    _ok(await c.post(f"/dossiers/{withdrawn['id']}/withdraw", json={"reason": "Nộp nhầm"}, headers=env.portal()))
    refused = await desk_submit(desk2)
    _ok(await c.post(f"/dossiers/{refused['id']}/refuse", json={"reasons": ["Giấy tờ giả mạo"]}, headers=desk2))
    env.clock.set_vn(2026, 3, 4, 8)
    # The supplement asked for in February arrives: first receipt now, inside the period.
    _ok(await c.post(f"/dossiers/{waiting['id']}/supplement", json={"documents": [{"component_code": "GCS"}]},
                     headers=desk))  # fmt: skip
    received += 1
    # Sent back for a supplement at the desk and never completed: not received.
    await desk_submit(desk2, documents=["TK"], on_incomplete="request_supplement")
    _ok(await c.post("/accounts/assisted", json={"account_id": "VNC-0042"}, headers=desk2), 201)
    env.clock.set_vn(2026, 3, 10, 15)
    await result_at_desk(env, online)
    _ok(await c.post(f"/dossiers/{online['id']}/return-result", json={"channel": "online"}, headers=desk))
    env.clock.set_vn(2026, 3, 31, 23, 58)  # the last minutes of the period
    await desk_submit(desk2, channel="postal", account_assisted=True)

    # After the period.
    env.clock.set_vn(2026, 4, 1, 0, 2)
    await desk_submit(desk)
    _ok(await c.post("/accounts/assisted", json={"account_id": "VNC-0043"}, headers=desk), 201)
    return received


def _token(secret: str, role: Role, unit: str | None = None) -> dict[str, str]:
    return {HEADER: mint(Identity(subject=f"agreement-{role.value}", role=role, unit=unit), secret, ttl=600)}


async def test_stats_agrees_with_intake_counts(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    stats_url = await databases.new("stats")
    await migrate("stats-svc", stats_url)
    stats_settings = StatsSettings(
        database_url=stats_url, kafka_bootstrap_servers=broker.bootstrap, topic_prefix=topic_prefix, log_json=False
    )
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env, serve(build_stats(stats_settings)) as st:
        received = await _file_scripted_dossiers(env)
        stats_admin = _token(stats_settings.internal_token_secret.get_secret_value(), Role.ADMIN)
        intake_admin = _token(env.settings.internal_token_secret.get_secret_value(), Role.ADMIN)
        whole = {"from": "2026-01-01", "to": "2026-12-31"}

        # Wait until stats has consumed every receipt and every assisted account intake recorded.
        expected = _ok(await env.client.get("/counts", params=whole, headers=intake_admin))
        assert expected["received"]["total"] == received == 10
        assert expected["accounts_assisted"] == 4
        deadline = time.monotonic() + 90
        while True:
            q = await st.get("/reports/quarterly", params=whole, headers=stats_admin)
            if q.status_code == 200 and (q.json()["received"]["total"], q.json()["accounts_assisted"]) == (10, 4):
                break
            assert time.monotonic() < deadline, f"stats did not catch up: {q.text}"
            await asyncio.sleep(0.3)

        for unit in (CITY, WARD, WARD2):
            params = {**PERIOD, "unit": unit}
            counts = _ok(await env.client.get("/counts", params=params, headers=intake_admin))
            # A leader of the city reads the same figures from both services.
            leader_intake = _token(env.settings.internal_token_secret.get_secret_value(), Role.LEADER, CITY)
            assert _ok(await env.client.get("/counts", params=params, headers=leader_intake)) == counts
            report = _ok(await st.get("/reports/quarterly", params=params, headers=stats_admin))
            form = _ok(await st.get("/reports/ii06a", params=params, headers=stats_admin))
            levels = report["received"]["by_level"]
            assert report["received"]["total"] == counts["received"]["total"], unit
            assert report["received"]["online"] == counts["received"]["online"], unit
            assert sum(r["in_person"] for r in levels) == counts["received"]["in_person"], unit
            assert sum(r["postal"] for r in levels) == counts["received"]["postal"], unit
            assert report["accounts_assisted"] == counts["accounts_assisted"], unit
            assert form["totals"]["received_online"] == counts["received"]["online"], unit
            assert form["totals"]["received_offline"] == counts["received"]["in_person"] + counts["received"]["postal"]

        # The figures themselves, known in advance (so agreement is not two zeros).
        city = _ok(await env.client.get("/counts", params={**PERIOD, "unit": CITY}, headers=intake_admin))
        assert city["received"] == {"total": 7, "online": 2, "in_person": 3, "postal": 2}
        assert city["by_unit"] == {
            WARD: {"total": 5, "online": 2, "in_person": 2, "postal": 1},
            WARD2: {"total": 2, "online": 0, "in_person": 1, "postal": 1},
        }
        assert city["accounts_assisted"] == 3

        # Bad input is a clear 4xx from intake's counts too.
        bad = await env.client.get("/counts", params={"from": "2026-03-31", "to": "2026-03-01"}, headers=intake_admin)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert (await env.client.get("/counts", params={"from": "2026-03-01"}, headers=intake_admin)).status_code == 422
        unknown = await env.client.get("/counts", params={**PERIOD, "unit": "nowhere"}, headers=intake_admin)
        assert unknown.status_code == 404
        outside = _token(env.settings.internal_token_secret.get_secret_value(), Role.LEADER, WARD)
        assert (await env.client.get("/counts", params={**PERIOD, "unit": WARD2}, headers=outside)).status_code == 403
        assert (await env.client.get("/counts", params=PERIOD, headers=env.desk())).status_code == 403

"""Dossier codes under concurrency (unique, gap-free) and appointment dates across Tết and the 2025 day swap."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from services.calendar import VN_TZ
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import P_CALENDAR, P_ONE, P_SPOT, P_TWO, P_WORKING, WARD, intake_env, submission


async def test_fifty_concurrent_submitters_get_unique_gap_free_codes(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        env.clock.set_vn(2025, 3, 4, 9, 30)

        async def one(i: int) -> tuple[int, str | None]:
            # every fifth submitter sends a dossier that fails after validation (unknown component): it must not
            # use up a number
            body = submission() if i % 5 else submission(documents=["TK", "GCS", "NOPE"])
            r = await env.client.post("/dossiers", json=body, headers=env.desk(subject=f"desk-{i % 7}"))
            return r.status_code, r.json().get("code")

        results = await asyncio.gather(*(one(i) for i in range(60)))
        assert sorted({s for s, _ in results}) == [201, 422]
        codes = sorted(c for s, c in results if s == 201 and c)
        assert len(codes) == 48
        assert codes == [f"{WARD}-250304-{n:04d}" for n in range(1, 49)]

        # the next day starts again at 0001; another unit has its own sequence
        env.clock.set_vn(2025, 3, 5, 8, 0)
        r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.json()["code"] == f"{WARD}-250305-0001"
        # 00:30 local on 6 March is still 5 March 17:30 UTC: the business date is local
        env.clock.set_vn(2025, 3, 6, 0, 30)
        r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.json()["code"] == f"{WARD}-250306-0001"


def vn(y: int, m: int, d: int, hh: int = 17, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN_TZ)


async def test_appointment_dates_follow_the_replica_calendar(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    cases = [
        # (received, procedure, expected appointment)
        # Tết 2025: Fri 24 Jan, 3 working days; off Sat 25 Jan – Sun 2 Feb → Mon 3, Tue 4, Wed 5 Feb
        (vn(2025, 1, 24, 10), P_WORKING, vn(2025, 2, 5)),
        # Tết 2026: Fri 13 Feb, 2 working days; off Sat 14 – Sun 22 Feb → Mon 23, Tue 24 Feb
        (vn(2026, 2, 13, 16), P_TWO, vn(2026, 2, 24)),
        # 2025 swap: Fri 25 Apr, 1 working day → Sat 26 Apr is a make-up working day
        (vn(2025, 4, 25, 9), P_ONE, vn(2025, 4, 26)),
        # ... and Fri 2 May is off: Tue 29 Apr + 2 working days → (30 Apr, 1 May, 2 May off) Mon 5, Tue 6 May
        (vn(2025, 4, 29, 10), P_TWO, vn(2025, 5, 6)),
        # after office hours the clock starts the next working day: Mon 17:30 + 1 → Wed
        (vn(2025, 3, 3, 17, 30), P_ONE, vn(2025, 3, 5)),
        # Fri 2 Jan 2026 is off only by the catalogue's calendar table (replica): Wed 31 Dec + 1 → Mon 5 Jan
        (vn(2025, 12, 31, 10), P_ONE, vn(2026, 1, 5)),
        # on the spot: the same day; received on a Sunday: the next working day
        (vn(2025, 3, 4, 8), P_SPOT, vn(2025, 3, 4)),
        (vn(2025, 3, 9, 8), P_SPOT, vn(2025, 3, 10)),
        # 15 calendar days from Tue 28 Jan 2025 (Tết, a day off → start Mon 3 Feb) → Tue 18 Feb
        (vn(2025, 1, 28, 9), P_CALENDAR, vn(2025, 2, 18)),
    ]
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        for received, procedure, expected in cases:
            env.clock.at = received
            r = await env.client.post("/dossiers", json=submission(procedure), headers=env.desk())
            assert r.status_code == 201, r.text
            got = datetime.fromisoformat(r.json()["appointment_at"])
            assert got == expected, (received, procedure, got.astimezone(VN_TZ), expected)
            assert r.json()["code"].split("-")[1] == received.strftime("%y%m%d")

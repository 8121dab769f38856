"""A service takes its business time from the kernel clock: a simulation moves the days of receipt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from intake.main import build_app
from intake.settings import Settings

from services import clock
from services.calendar import VN_TZ
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve
from tests.intake.support import WARD, Env, catalogue_events, submission
from tests.support import feed_catalogue


async def test_intake_receives_on_the_simulated_day(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock_file = tmp_path / "clock"
    clock.set_instant(clock_file, datetime(2021, 6, 7, 9, 0, tzinfo=VN_TZ))  # Monday
    monkeypatch.setenv(clock.CLOCK_FILE_ENV, str(clock_file))
    url = await databases.new("intake")
    await migrate("intake-svc", url)
    settings = Settings(
        database_url=url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=topic_prefix,
        storage_dir=str(tmp_path / "files"),
        log_level="WARNING",
    )
    app = build_app(settings)
    async with serve(app) as client:  # the production clock, not a test double
        await feed_catalogue(broker.bootstrap, topic_prefix, url, catalogue_events())
        env = Env(client, settings, None, url, app.state.intake)  # type: ignore[arg-type]

        r = await client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["code"] == f"{WARD}-210607-0001"
        # 3 working days, the day of receipt not counted: Thursday 10 June 2021
        assert datetime.fromisoformat(body["appointment_at"]).astimezone(VN_TZ).date().isoformat() == "2021-06-10"

        clock.set_instant(clock_file, datetime(2021, 6, 11, 16, 0, tzinfo=VN_TZ))  # Friday
        r = await client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 201, r.text
        assert r.json()["code"] == f"{WARD}-210611-0001"
        assert datetime.fromisoformat(r.json()["appointment_at"]).astimezone(VN_TZ).date().isoformat() == "2021-06-16"

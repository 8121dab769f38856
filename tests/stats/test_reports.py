"""stats-svc end to end on the real broker and database: a scripted period, its known report, rebuild, exports."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import date
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from stats import reports
from stats.consumers import GROUP
from stats.main import build_app
from stats.models import READ_MODELS
from stats.rebuild import rebuild
from stats.reports import score
from stats.settings import Settings

from services.bus.tables import inbox
from services.db import Database
from services.events import CloudEvent
from services.identity import HEADER, Identity, Role, mint
from services.topics import DOMAIN_TOPICS, INTAKE_DOSSIERS, ensure_topics
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve
from tests.stats import scenario as sc
from tests.stats.browser import render
from tests.support import Publisher, read_topic, wait_for

pytestmark = pytest.mark.kafka

PERIOD = {"from": sc.START.isoformat(), "to": sc.END.isoformat()}


def who(settings: Settings, role: Role, unit: str | None = None) -> dict[str, str]:
    secret = settings.internal_token_secret.get_secret_value()
    return {HEADER: mint(Identity(subject=f"test-{role.value}", role=role, unit=unit), secret, ttl=600)}


async def publish(
    bootstrap: str, prefix: str, events: list[tuple[str, Any, str]], raw: list[tuple[str, bytes, str]]
) -> None:
    async with Publisher(bootstrap, prefix, source="/tests") as publisher:
        for topic, value, key in raw:
            await publisher.send_raw(topic, key, value)
        for topic, payload, key in events:
            await publisher.send_event(topic, sc.envelope(payload, key))


async def applied(url: str, consumer: str) -> int:
    """How many events the live consumer has applied."""
    db = Database(url)
    try:
        async with db.sessionmaker() as session:
            query = select(func.count()).select_from(inbox).where(inbox.c.consumer == consumer)
            return int((await session.execute(query)).scalar_one())
    finally:
        await db.dispose()


async def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = Database(url)
    try:
        async with db.sessionmaker() as session:
            out = {}
            for model in READ_MODELS:
                table = model.__table__
                rows = (await session.execute(select(table))).all()
                out[table.name] = sorted(tuple(r) for r in rows)
            return out
    finally:
        await db.dispose()


async def dead_letters(bootstrap: str, topic: str) -> list[bytes]:
    return [record.value for record in await read_topic(bootstrap, topic, timeout=5)]


async def _reports_as_json(url: str, settings: Settings, params: dict[str, str]) -> list[tuple[str, bytes]]:
    """What the report functions return for `params`, as the JSON a route without a response model would send."""
    start, end = date.fromisoformat(params["from"]), date.fromisoformat(params["to"])
    db = Database(url)
    try:
        async with db.sessionmaker() as session:
            p = reports.period(start, end, settings)
            scope = await reports.scope(session, Identity(subject="test", role=Role.ADMIN), params.get("unit"))
            answers = {
                "/reports/quarterly": await reports.quarterly(session, p, scope, settings, settings.compare_periods),
                "/reports/ii06a": await reports.ii06a(session, p, scope),
                "/reports/indicators": await reports.indicators(session, p, scope, settings),
            }
    finally:
        await db.dispose()
    return [
        (path, json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode())
        for path, answer in answers.items()
    ]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if "json" in response.headers.get("content-type", "") else response


async def test_scripted_period_report_rebuild_and_exports(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    url = await databases.new("stats")
    await migrate("stats-svc", url)
    await ensure_topics(broker.bootstrap, topic_prefix, DOMAIN_TOPICS)
    settings = Settings(
        database_url=url, kafka_bootstrap_servers=broker.bootstrap, topic_prefix=topic_prefix, log_json=False
    )
    admin = who(settings, Role.ADMIN)
    city_leader = who(settings, Role.LEADER, sc.CITY)
    ward_leader = who(settings, Role.LEADER, sc.WARD_A)

    # An event of a version nobody knows, ahead of D01's events in the same partition: dead-lettered, not a stall.
    unknown = CloudEvent(source="/intake", type="vn.motcua.intake.dossier.received.v99", subject="D01", data={"x": 1})
    raw = [(INTAKE_DOSSIERS.name, unknown.to_json(), "D01")]

    async with serve(build_app(settings)) as client:
        await publish(broker.bootstrap, topic_prefix, sc.catalogue_events() + sc.dossier_events(), raw)

        published = len(sc.catalogue_events()) + len(sc.dossier_events())

        async def caught_up() -> bool:
            # Every event applied (each leaves its inbox row), not only the city's: the other city's dossier and the
            # ward's come from other partitions, and the checks below count them too.
            if await applied(url, f"{topic_prefix}.{GROUP}") < published:
                return False
            r = await client.get("/reports/ii06a", params={**PERIOD, "unit": sc.CITY}, headers=admin)
            q = await client.get("/reports/quarterly", params={**PERIOD, "unit": sc.CITY}, headers=admin)
            return (
                r.status_code == 200
                and r.json()["totals"] == sc.EXPECTED_II06A_TOTALS
                and q.json()["accounts_assisted"] == 4
                and q.json()["procedures"]["online_at_end"] == 2
            )

        await wait_for(caught_up, 90, 0.3)

        # --- Form II.06a: exactly the scripted ground truth, per field and in total.
        form = ok(await client.get("/reports/ii06a", params=PERIOD, headers=city_leader))  # leader: own unit by default
        assert form["scope"]["unit"] == sc.CITY
        assert form["rows"] == sc.EXPECTED_II06A_ROWS
        assert form["totals"] == sc.EXPECTED_II06A_TOTALS
        assert len(form["columns"]) == 14  # field code, field name and the 12 figures (13 columns with the field)

        # --- The quarterly report (the seed's figures) with the earlier periods.
        q = ok(await client.get("/reports/quarterly", params={**PERIOD, "unit": sc.CITY}, headers=admin))
        assert q["received"]["total"] == 8 and q["received"]["online"] == 2 and q["received"]["online_share"] == 0.25
        levels = {lv["level"]: lv for lv in q["received"]["by_level"]}
        assert [lv["level"] for lv in q["received"]["by_level"]] == ["district", "commune"]
        assert (levels["district"]["total"], levels["district"]["online"], levels["district"]["in_person"]) == (5, 1, 4)
        assert (levels["commune"]["total"], levels["commune"]["online"], levels["commune"]["in_person"]) == (3, 1, 2)
        assert levels["commune"]["online_share"] == round(1 / 3, 4)
        assert q["accounts_assisted"] == 4
        assert q["procedures"] == {"published": 1, "updated": 1, "abolished": 0, "online_at_end": 2}
        first, second = q["earlier_periods"]
        assert first["period"] == {"from": "2020-02-14", "to": "2020-05-15"}
        assert (first["received"], first["online"], first["accounts_assisted"]) == (3, 1, 1)
        assert first["change"] == {"received": 5, "online": 1, "accounts_assisted": 3}
        assert second["period"] == {"from": "2019-11-14", "to": "2020-02-13"} and second["received"] == 0

        # The whole system (administrator, no unit) also counts the other city's dossier and account.
        everything = ok(await client.get("/reports/quarterly", params=PERIOD, headers=admin))
        assert everything["received"]["total"] == 9 and everything["accounts_assisted"] == 5

        # --- Decision 766 indicators.
        ind = ok(await client.get("/reports/indicators", params={**PERIOD, "unit": sc.CITY}, headers=admin))
        rows = {r["key"]: r for r in ind["indicators"]}
        assert (rows["progress"]["numerator"], rows["progress"]["denominator"]) == (5, 9)
        assert rows["progress"]["score"] == round(5 / 9 * 20, 2)
        assert (rows["online"]["numerator"], rows["online"]["denominator"]) == (2, 6)
        assert rows["online"]["score"] == 8.0
        assert (rows["online_payment"]["numerator"], rows["online_payment"]["denominator"]) == (1, 2)
        assert rows["online_payment"]["score"] == 10.0
        assert ind["score_total"] == round(round(5 / 9 * 20, 2) + 8.0 + 10.0, 2) and ind["score_max"] == 42.0

        # --- Each answer's JSON is byte for byte the report's own dictionary (its keys in their order, whole numbers
        # staying whole): the response models validate and document, they change nothing.
        for params in ({**PERIOD, "unit": sc.CITY}, {"from": "2010-01-01", "to": "2010-03-31"}):
            for path, body in await _reports_as_json(url, settings, params):
                assert (await client.get(path, params=params, headers=admin)).content == body, (path, params)

        # --- Jurisdiction and bad input.
        assert ok(await client.get("/reports/ii06a", params={**PERIOD, "unit": sc.CITY}, headers=ward_leader), 403)
        ward = ok(await client.get("/reports/ii06a", params=PERIOD, headers=ward_leader))
        assert ward["totals"]["received_total"] == 2  # D03 and D13
        desk = who(settings, Role.DESK_OFFICER, sc.CITY)
        assert (await client.get("/reports/ii06a", params=PERIOD, headers=desk)).status_code == 403
        assert (await client.get("/reports/ii06a", params=PERIOD)).status_code == 401
        missing = ok(await client.get("/reports/ii06a", params={**PERIOD, "unit": "999.99.99.X00"}, headers=admin), 404)
        assert missing["detail"].startswith("Unknown unit")
        inverted = ok(
            await client.get("/reports/ii06a", params={"from": "2020-08-15", "to": "2020-05-16"}, headers=admin), 422
        )
        assert inverted["errors"][0]["loc"] == ["query", "from"]
        open_ended = ok(await client.get("/reports/quarterly", params={"from": "2020-05-16"}, headers=admin), 422)
        assert open_ended["errors"][0]["loc"] == ["query", "to"]
        bad_date = await client.get("/reports/ii06a", params={"from": "2020-13-01", "to": "2020-12-31"}, headers=admin)
        assert bad_date.status_code == 422 and bad_date.json()["errors"][0]["loc"] == ["query", "from"]
        empty = ok(
            await client.get("/reports/quarterly", params={"from": "2010-01-01", "to": "2010-03-31"}, headers=admin)
        )
        assert empty["received"]["total"] == 0 and empty["received"]["online_share"] is None
        empty_form = ok(
            await client.get("/reports/ii06a", params={"from": "2010-01-01", "to": "2010-03-31"}, headers=admin)
        )
        assert empty_form["rows"] == [] and set(empty_form["totals"].values()) == {0}

        # --- CSV and Excel downloads.
        csv_body = (await client.get("/reports/ii06a.csv", params={**PERIOD, "unit": sc.CITY}, headers=admin)).content
        table = list(csv.reader(io.StringIO(csv_body.decode("utf-8-sig"))))
        assert table[0][2] == "Tiếp nhận: tổng số" and table[-1][1] == "Tổng cộng" and table[-1][2] == "9"
        xlsx = await client.get("/reports/report.xlsx", params={**PERIOD, "unit": sc.CITY}, headers=admin)
        assert xlsx.status_code == 200, xlsx.text
        wb = load_workbook(io.BytesIO(xlsx.content))
        sheet = wb["II.06a"]
        assert [c.value for c in sheet[4]][:4] == [
            "Mã lĩnh vực",
            "Lĩnh vực",
            "Tiếp nhận: tổng số",
            "Tiếp nhận: trực tuyến",
        ]
        assert [c.value for c in sheet[5]][:13] == [sc.F2, "Đất đai", 3, 0, 2, 1, 2, 1, 0, 1, 1, 1, 0]
        assert [c.value for c in sheet[6]][:13] == [sc.F1, "Hộ tịch", 6, 2, 4, 0, 4, 2, 1, 1, 1, 0, 1]
        assert [c.value for c in sheet[7]][1:13] == ["Tổng cộng", 9, 2, 6, 1, 6, 3, 1, 2, 2, 1, 1]
        assert wb["Quý"]["B5"].value == 8 and wb["Quý"]["B6"].value == 2 and wb["Quý"]["C6"].value == 0.25
        assert wb["766"]["A5"].value == "Tiến độ giải quyết" and wb["766"]["G5"].value == round(5 / 9 * 20, 2)

        # --- The HTML page.
        page = await client.get("/reports/page", params={**PERIOD, "unit": sc.CITY}, headers=city_leader)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for needle in (
            'id="chart-trend"',
            'id="chart-channels"',
            'id="chart-ontime"',
            "Biểu II.06a",
            "UBND thành phố Huế",
        ):
            assert needle in page.text
        shown = await render(page.text)
        assert shown.errors == []
        for chart, box in shown.charts.items():
            assert box["width"] > 100 and box["height"] > 50, (chart, box)
            assert box["drawn"] > 0, (chart, box)
        assert shown.ii06a_header[:3] == ["Mã lĩnh vực", "Lĩnh vực", "Tiếp nhận: tổng số"]
        assert len(shown.ii06a_header) == 14
        assert shown.ii06a_totals[1:5] == ["Tổng cộng", "9", "2", "6"]
        assert "Biểu II.06a" in shown.text and unicodedata.is_normalized("NFC", shown.text)
        assert shown.print_overflow_px <= 0, f"the printed page is {shown.print_overflow_px} px wider than A4"
        assert shown.pdf.startswith(b"%PDF-") and len(shown.pdf) > 10_000

        # --- The unknown version went to the dead-letter topic; everything after it was applied.
        dlq = await dead_letters(broker.bootstrap, f"{topic_prefix}.deadletter.stats.facts")
        assert any(b"dossier.received.v99" in value for value in dlq)

        # --- Rebuild (drop and replay from offset zero, next to the running live consumer) equals live.
        live = await snapshot(url)
        assert len(live["stats_dossier"]) == 13  # 13 dossiers; D06's three hops added no rows
        d06 = next(r for r in live["stats_dossier"] if r[0] == "D06")
        assert d06 is not None
        result = await rebuild(settings, progress=False)
        assert result.applied == len(sc.catalogue_events()) + len(sc.dossier_events())
        assert result.invalid == 1
        assert await snapshot(url) == live
        assert ok(await client.get("/reports/ii06a", params=PERIOD, headers=city_leader)) == form


def test_766_score_rule() -> None:
    assert score(1, 2, 0.5, 10) == 10.0
    assert score(1, 4, 0.5, 10) == 5.0
    assert score(3, 3, 1.0, 20) == 20.0
    assert score(0, 0, 1.0, 20) is None

"""The report page under the document policy, the workbook and the CSV as named downloads, nothing type-sniffed."""

from __future__ import annotations

from stats.main import build_app
from stats.settings import Settings

from services.headers import DOCUMENT_CSP
from services.identity import Role
from tests.conftest import Broker, DatabaseFactory
from tests.harness import migrate, serve
from tests.stats.test_reports import who

PERIOD = {"from": "2026-10-01", "to": "2026-12-31"}


async def test_the_report_page_and_downloads(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    url = await databases.new("stats")
    await migrate("stats-svc", url)
    settings = Settings(database_url=url, kafka_bootstrap_servers=broker.bootstrap, topic_prefix=topic_prefix,
                        log_json=False)  # fmt: skip
    admin = who(settings, Role.ADMIN)
    async with serve(build_app(settings)) as client:
        page = await client.get("/reports/page", params=PERIOD, headers=admin)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
        assert page.headers["content-security-policy"] == DOCUMENT_CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        xlsx = await client.get("/reports/report.xlsx", params=PERIOD, headers=admin)
        assert xlsx.status_code == 200
        assert xlsx.headers["content-disposition"] == 'attachment; filename="bao-cao-2026-10-01-2026-12-31.xlsx"'
        assert xlsx.headers["x-content-type-options"] == "nosniff"
        csv = await client.get("/reports/ii06a.csv", params=PERIOD, headers=admin)
        assert csv.headers["content-disposition"].startswith("attachment; ")
        assert csv.headers["x-content-type-options"] == "nosniff"

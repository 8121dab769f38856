"""Render the stats HTML report with the seed's Q3/2020 figures and open it in headless Chromium.

    .venv/bin/python -m bench.stats_page_check      (needs `chromium`: apt-get install -y chromium)

Writes var/stats-page/report.html, a screenshot (report.png) and a PDF (report.pdf, what "print" gives), and checks
in the DOM Chromium built that the three charts have their bars and the II.06a table its rows. Not a test: CI
machines may lack a browser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Any

from bench.common import ROOT

sys.path.insert(0, str(ROOT / "stats-svc"))

from stats.exports import html_page

OUT = ROOT / "var" / "stats-page"


def seed_reports() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    levels = [
        {
            "level": "district",
            "level_name": "Cấp huyện / thành phố",
            "total": 11841,
            "online": 1322,
            "in_person": 10519,
            "postal": 0,
            "online_share": 0.1116,
            "in_person_share": 0.8884,
            "postal_share": 0.0,
        },
        {
            "level": "commune",
            "level_name": "Cấp xã / phường",
            "total": 9621,
            "online": 86,
            "in_person": 9535,
            "postal": 0,
            "online_share": 0.0089,
            "in_person_share": 0.9911,
            "postal_share": 0.0,
        },
    ]
    period = {"from": "2020-05-16", "to": "2020-08-15"}
    scope = {"unit": "000.00.31.H57", "name": "UBND thành phố Huế", "level": "district"}
    q = {
        "period": period,
        "scope": scope,
        "received": {"total": 21462, "online": 1408, "offline": 20054, "online_share": 0.0656, "by_level": levels},
        "accounts_assisted": 1395,
        "procedures": {"published": 0, "updated": 29, "abolished": 0, "online_at_end": 294},
        "earlier_periods": [
            {
                "period": {"from": "2020-02-14", "to": "2020-05-15"},
                "received": 15020,
                "online": 566,
                "accounts_assisted": 800,
                "online_share": 0.0377,
                "change": {"received": 6442, "online": 756},
            },
            {
                "period": {"from": "2019-11-14", "to": "2020-02-13"},
                "received": 17110,
                "online": 902,
                "accounts_assisted": 650,
                "online_share": 0.0527,
                "change": {"received": 4352, "online": 420},
            },
        ],
    }
    from services.contracts.stats import II06A_HEADERS

    def row(
        code: str,
        name: str,
        online: int,
        offline: int,
        carried: int,
        early: int,
        on_time: int,
        late: int,
        within: int,
        overdue: int,
    ) -> dict[str, Any]:
        resolved = early + on_time + late
        return {
            "field_code": code,
            "field_name": name,
            "received_total": online + offline + carried,
            "received_online": online,
            "received_offline": offline,
            "carried_over": carried,
            "resolved": resolved,
            "resolved_early": early,
            "resolved_on_time": on_time,
            "resolved_late": late,
            "pending": within + overdue,
            "pending_within": within,
            "pending_overdue": overdue,
            "closed": 0,
        }

    rows = [
        row("G01-HT", "Hộ tịch", 700, 5200, 120, 3900, 1800, 20, 290, 10),
        row("G01-DD", "Đất đai", 210, 2900, 600, 1500, 900, 310, 950, 50),
        row("G01-XD", "Xây dựng", 150, 1100, 90, 700, 480, 12, 140, 8),
        row("G01-KD", "Hộ kinh doanh", 262, 1319, 15, 1300, 280, 0, 16, 0),
    ]
    totals = {k: sum(r[k] for r in rows) for k, _ in II06A_HEADERS[2:]}
    form = {
        "period": period,
        "scope": scope,
        "columns": [{"key": k, "title": t} for k, t in II06A_HEADERS],
        "rows": rows,
        "totals": totals,
    }
    ind = {
        "indicators": [
            {
                "key": "progress",
                "title": "Tiến độ giải quyết",
                "numerator": 12600,
                "denominator": 13866,
                "rate": 0.9087,
                "target": 1.0,
                "max_points": 20.0,
                "score": 18.17,
                "formula": "(…) ÷ tổng số tiếp nhận",
            },
            {
                "key": "online",
                "title": "Dịch vụ trực tuyến",
                "numerator": 1322,
                "denominator": 9000,
                "rate": 0.1469,
                "target": 0.5,
                "max_points": 12.0,
                "score": 3.53,
                "formula": "trực tuyến ÷ hồ sơ TTHC có DVCTT",
            },
            {
                "key": "online_payment",
                "title": "Thanh toán trực tuyến",
                "numerator": 300,
                "denominator": 4000,
                "rate": 0.075,
                "target": 0.5,
                "max_points": 10.0,
                "score": 1.5,
                "formula": "TT trực tuyến ÷ hồ sơ có phí",
            },
        ],
        "score_total": 23.2,
        "score_max": 42.0,
    }
    return q, form, ind


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("no chromium on this machine: apt-get install -y chromium")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    page = OUT / "report.html"
    page.write_text(html_page(*seed_reports()), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
    url = page.as_uri()
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    subprocess.run(
        [browser, *flags, f"--screenshot={OUT / 'report.png'}", "--window-size=1100,2400", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    subprocess.run(
        [browser, *flags, f"--print-to-pdf={OUT / 'report.pdf'}", "--no-pdf-header-footer", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    trend = dom.split('id="chart-trend"', 1)[-1].split("</svg>", 1)[0]
    checks = {
        "trend bars": len(re.findall(r'<rect class="(?:total|online)"', trend)) == 6,
        "channel bars": len(re.findall(r'<rect class="(?:online|inperson|postal)" x="\d', dom)) >= 6,
        "on-time bars": dom.count('<rect class="bar"') == 4,
        "II.06a rows": dom.count("<tr") >= 4 + 2 and "Tổng cộng" in dom,
        "Vietnamese text": "Tỷ lệ giải quyết đúng hạn theo lĩnh vực" in dom,
        "screenshot": (OUT / "report.png").stat().st_size > 10_000,
        "pdf": (OUT / "report.pdf").stat().st_size > 10_000,
    }
    for name, passed in checks.items():
        print(f"{'ok  ' if passed else 'FAIL'} {name}")
    print(f"files: {page}, {OUT / 'report.png'}, {OUT / 'report.pdf'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The report page as a leader sees it: rendered and printed by a real headless Chromium (Debian's package, driven
through Playwright), not only parsed as text."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import async_playwright

#: A4 at 96 dpi minus the default 1 cm print margins on each side.
A4_PRINTABLE_WIDTH_PX = 718


@dataclass
class Rendered:
    charts: dict[str, dict[str, float]]
    ii06a_header: list[str]
    ii06a_totals: list[str]
    text: str
    print_overflow_px: float
    pdf: bytes
    errors: list[str] = field(default_factory=list)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is needed for the report page test (Debian: apt-get install chromium; .ci/run does it)"
    return path


_MEASURE = """() => {
  const charts = {};
  for (const id of ["chart-trend", "chart-channels", "chart-ontime"]) {
    const el = document.getElementById(id);
    const box = el ? el.getBoundingClientRect() : {width: 0, height: 0};
    const shapes = el ? [...el.querySelectorAll("rect, path, line, circle, text")] : [];
    const drawn = shapes.filter(s => { const b = s.getBoundingClientRect(); return b.width > 0 && b.height > 0; });
    charts[id] = {width: box.width, height: box.height, shapes: shapes.length, drawn: drawn.length};
  }
  const table = document.getElementById("ii06a");
  const header = table ? [...table.querySelectorAll("tr")[0].children].map(c => c.innerText.trim()) : [];
  const totals = table ? [...table.querySelector("tr.total").children].map(c => c.innerText.trim()) : [];
  return {charts, header, totals, text: document.body.innerText};
}"""


async def render(html: str) -> Rendered:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            await page.set_content(html, wait_until="load")
            measured: dict[str, Any] = await page.evaluate(_MEASURE)
            # Printed on A4: nothing may stick out past the printable width.
            await page.emulate_media(media="print")
            await page.set_viewport_size({"width": A4_PRINTABLE_WIDTH_PX, "height": 1000})
            overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            pdf = await page.pdf(format="A4", print_background=True)
        finally:
            await browser.close()
    return Rendered(
        charts=measured["charts"],
        ii06a_header=measured["header"],
        ii06a_totals=measured["totals"],
        text=measured["text"],
        print_overflow_px=float(overflow),
        pdf=pdf,
        errors=errors,
    )

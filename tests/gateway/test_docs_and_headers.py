"""/docs works without internet (Swagger UI's files come from the gateway itself, rendered by a real Chromium that
may reach nothing but the gateway) under a Content-Security-Policy it does not break; every answer of the gateway,
its own and the proxied ones, says nosniff."""

from __future__ import annotations

import re

from playwright.async_api import Route, async_playwright

from tests.conftest import DatabaseFactory
from tests.gateway.support import run_gateway
from tests.stats.browser import chromium


async def test_docs_render_offline_under_their_policy(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        policy = docs.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert docs.headers["x-content-type-options"] == "nosniff"
        # Every file the page names is the gateway's own, and served.
        for url in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
            assert url.startswith("/"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["x-content-type-options"] == "nosniff"

        outside: list[str] = []
        problems: list[str] = []
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            try:
                page = await browser.new_page()

                async def only_the_gateway(route: Route) -> None:
                    if route.request.url.startswith(gw.url):
                        await route.continue_()
                    else:
                        outside.append(route.request.url)
                        await route.abort()

                await page.route("**/*", only_the_gateway)
                page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda exc: problems.append(str(exc)))
                await page.goto(f"{gw.url}/docs", wait_until="networkidle")
                await page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
                title = await page.inner_text(".swagger-ui .info .title")
                operations = await page.locator(".opblock").count()
            finally:
                await browser.close()
        assert title.startswith("motcua API")
        assert operations > 5
        assert outside == []
        assert problems == []


async def test_every_answer_says_nosniff(databases: DatabaseFactory, upstreams: dict[str, str]) -> None:
    async with run_gateway(await databases.new("gw"), upstreams) as gw, gw.client() as client:
        answers = [
            await client.get("/api/v1/catalogue/x", headers=gw.creds["portal"]),  # proxied
            await client.get("/api/v1/catalogue/x"),  # refused by the edge: 401
            await client.get("/api/v1/nowhere/x", headers=gw.creds["portal"]),  # 404
            await client.get("/api/v1/auth/whoami", headers=gw.creds["desk"]),  # the gateway's own
            await client.get("/openapi.json"),
            await client.get("/healthz"),
        ]
        assert [a.status_code for a in answers] == [200, 401, 404, 200, 200, 200]
        for answer in answers:
            assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
            assert answer.headers["referrer-policy"] == "no-referrer"

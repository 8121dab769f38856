"""``/docs``: Swagger UI from files that a Python package ships (fastapi-offline's copy of swagger-ui-dist), so the
page works without internet, under a Content-Security-Policy that allows its own files and its one inline script."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs/assets"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def swagger_page(title: str, openapi_url: str = "/openapi.json") -> tuple[bytes, str]:
    """The page and its Content-Security-Policy (the inline script that starts Swagger UI allowed by its hash)."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} – API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        # No badge from the public validator: nothing leaves the page.
        swagger_ui_parameters={"validatorUrl": None},
    )
    body = bytes(page.body)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    csp = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return body, csp


def install_docs(app: FastAPI) -> None:
    """Serves /docs and its files; the app must be created with ``docs_url=None``."""
    body, csp = swagger_page(app.title)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(body, headers={"content-security-policy": csp})

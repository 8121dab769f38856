"""The access log: one JSON line per request with the request id and the service, filtered by the log level."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from services.observability import RequestContextMiddleware, configure_logging


def app() -> FastAPI:
    application = FastAPI()
    application.add_middleware(RequestContextMiddleware)

    @application.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    @application.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return application


async def call(path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://svc") as client:
        return await client.get(path, headers=headers)


async def test_one_json_access_line_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("things", "INFO", json=True)
    capsys.readouterr()
    response = await call("/things/h%E1%BB%93-s%C6%A1", **{"x-request-id": "req-42"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-42"
    await call("/healthz")  # health checks are not logged
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert {k: line[k] for k in ("event", "method", "path", "status", "service", "request_id", "level", "logger")} == {
        "event": "request", "method": "GET", "path": "/things/hồ-sơ", "status": 200, "service": "things",
        "request_id": "req-42", "level": "info", "logger": "access",
    }
    assert isinstance(line["ms"], float) and line["timestamp"].endswith("Z")


async def test_access_lines_follow_the_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("things", "WARNING", json=True)
    capsys.readouterr()
    assert (await call("/things/1")).status_code == 200
    assert capsys.readouterr().err == ""
    configure_logging("things", "INFO", json=False)
    assert (await call("/things/2")).status_code == 200
    assert "request" in capsys.readouterr().err

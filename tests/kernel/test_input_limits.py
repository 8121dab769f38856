"""The input limits of services/input_limits.py: the scan sees brackets and digits as a JSON parser does, and the
middleware every service gets from create_app applies the limits of its settings before an endpoint parses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi import APIRouter, Request

from services.app import create_app
from services.errors import Problem
from services.input_limits import InputLimits, check_body, check_head, check_json, loads
from services.settings import ServiceSettings
from tests.harness import serve

LIMITS = InputLimits(json_max_depth=3, json_max_bytes=1000, json_max_number_digits=5, max_query_bytes=50,
                     max_header_bytes=2000)  # fmt: skip


def refusal(body: bytes, content_type: str | None = "application/json") -> tuple[int, str, dict[str, object]]:
    with pytest.raises(Problem) as caught:
        check_body(body, content_type, LIMITS)
    return caught.value.status, caught.value.code, caught.value.extensions


@pytest.mark.parametrize("body", [
    b'[[["x"]]]',
    b'{"a": {"b": {"c": "[[[[[[[[{{{{{{"}}}',          # brackets inside a string are text
    b'[[["\\"[[[[[[", "\\\\", "[[[["]]]',               # so are those after escaped quotes and backslashes
    b'[12345, -12345.12345e12345, "1234567890"]',        # five digits a run; long digit runs inside strings
    b'"[[[[[[[[[[',                                      # an unterminated string: a parser sees no brackets
])  # fmt: skip
def test_documents_within_the_limits_pass(body: bytes) -> None:
    check_json(body, LIMITS)
    check_body(body, "application/json", LIMITS)


def test_what_breaks_a_limit_is_said_with_where() -> None:
    assert refusal(b'[{"a": [[1]]}]') == (400, "json-too-deep", {"limit": 3, "depth": 4, "offset": 8})
    assert refusal(b'["]", [[[ ]]]]')[2] == {"limit": 3, "depth": 4, "offset": 8}
    assert refusal(b'{"n": 123456}') == (400, "json-number-too-long", {"limit": 5, "digits": 6, "offset": 6})
    assert refusal(b'{"n": "\xc3"}') == (400, "invalid-utf-8", {"offset": 7})
    assert refusal(b"[" + b" " * 1000 + b"]") == (413, "json-too-large", {"limit": 1000, "size": 1002})
    # NUL, which no text column of PostgreSQL takes, escaped or raw; an escaped backslash before u0000 is text.
    assert refusal(b'{"n": "a\\\\\\u0000"}') == (400, "nul-character", {"where": "body", "offset": 10})
    assert refusal(b'a,b\n\x00', "text/csv") == (400, "nul-character", {"where": "body", "offset": 4})
    check_body(b'{"n": "a\\\\u0000 \\u0001"}', "application/json", LIMITS)


def test_nul_in_the_query_string_or_path() -> None:
    for query, path, where in ((b"q=a%00b", "/x", "query string"), (b"q=a", "/x\x00", "path")):
        with pytest.raises(Problem) as caught:
            check_head({"type": "http", "query_string": query, "path": path, "headers": []}, LIMITS)
        assert caught.value.status == 400 and caught.value.extensions == {"where": where}
    check_head({"type": "http", "query_string": b"q=%2500", "path": "/x", "headers": []}, LIMITS)


def test_bodies_of_other_types() -> None:
    # Forms are never JSON; binary bodies (not UTF-8) and large ones are left to their endpoint.
    check_body(b"[[[[[[", "application/x-www-form-urlencoded", LIMITS)
    check_body(b"[[[[[[\xff", "application/octet-stream", LIMITS)
    check_body(b"[" * 2000, None, LIMITS)
    # UTF-8 text of any other or no type is checked like JSON: endpoints taking raw bodies may parse it as JSON.
    assert refusal(b"[[[[", None)[1] == "json-too-deep"
    assert refusal(b"[[[[", "text/plain")[1] == "json-too-deep"
    assert refusal(b"[[[[", "application/problem+json; charset=utf-8")[1] == "json-too-deep"


def test_loads_refuses_with_a_problem_not_an_exception() -> None:
    assert loads(b'{"a": [1]}', LIMITS) == {"a": [1]}
    for body, code in ((b"[" * 5000, "json-too-deep"), (b"{", "invalid-json"), (b"", "invalid-json")):
        with pytest.raises(Problem) as caught:
            loads(body)
        assert caught.value.status == 400 and caught.value.code == code


class LimitedSettings(ServiceSettings):
    service_name: ClassVar[str] = "limited"
    relay_enabled: bool = False
    consumers_enabled: bool = False


async def test_every_service_applies_the_limits_of_its_settings(tmp_path: Path) -> None:
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body()), "items": len(json.loads(await request.body()))}

    @router.get("/search")
    async def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    settings = LimitedSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'limited.db'}", json_max_depth=3,
                               json_max_bytes=1000, json_max_number_digits=5, max_query_bytes=50,
                               max_header_bytes=2000)  # fmt: skip
    async with serve(create_app(settings, title="limited", routers=[router])) as client:
        ok = await client.post("/echo", json=[[[1, 2]], 3])
        assert ok.status_code == 200 and ok.json() == {"bytes": 11, "items": 2}

        async def chunks() -> AsyncIterator[bytes]:  # a body in pieces reaches the endpoint whole
            for piece in (b"[[", b"[1]", b"], ", b'"x"]'):
                yield piece

        chunked = await client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 200 and chunked.json() == {"bytes": 12, "items": 2}

        deep = await client.post("/echo", content=b"[[[[1]]]]", headers={"content-type": "application/json"})
        assert deep.status_code == 400 and deep.headers["content-type"] == "application/problem+json"
        assert deep.json()["depth"] == 4 and deep.json()["instance"] == "/echo"
        large = await client.post("/echo", content=b"[" + b"1," * 600 + b"1]",
                                  headers={"content-type": "application/json"})  # fmt: skip
        assert large.status_code == 413 and large.json()["limit"] == 1000
        assert (await client.get("/search", params={"q": "x" * 40})).json() == {"q": "x" * 40}
        assert (await client.get("/search", params={"q": "x" * 50})).status_code == 414
        assert (await client.get("/search", headers={"x-pad": "x" * 2000})).status_code == 431
        # The problem answers carry the request id like every other answer.
        assert "x-request-id" in (await client.get("/search", headers={"x-pad": "x" * 2000})).headers

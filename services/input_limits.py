"""Input limits checked before anything parses a request: the query string and header sizes, and for a body its
JSON nesting depth, size, number lengths and UTF-8.

Python's json module recurses once per nesting level (5,000 `[` raise RecursionError) and its int() refuses more
than 4,300 digits (ValueError): both must be a 4xx before a parser sees them. `check_body` therefore scans the bytes
(brackets and digit runs outside strings) without building anything, and `InputLimitsMiddleware` runs the checks in
front of every service (`services.app.create_app`); the gateway calls the same functions on the requests it proxies.

    limits = InputLimits.from_settings(settings)
    check_head(scope, limits)                         # 414 / 431
    check_body(body, content_type, limits)            # 400 / 413
    document = loads(body, limits)                    # both checks, then json.loads: a 400 instead of any error
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import Problem, problem_response

#: Bodies of these types are not JSON to anyone: they stream past unread.
_FORM_TYPES = ("multipart/", "application/x-www-form-urlencoded")
#: Inside a string: everything up to its closing quote, escapes included (possessive: linear on any input).
_STRING_REST = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
#: A NUL character, or its escape (not an escaped backslash before "u0000"): PostgreSQL cannot store it in text.
_NUL = re.compile(rb"\x00|(?<!\\)(?:\\\\)*+\\u0000")
_QUERY_NUL = re.compile(rb"%00|\x00")


class LimitSettings(Protocol):
    json_max_depth: int
    json_max_bytes: int
    json_max_number_digits: int
    max_query_bytes: int
    max_header_bytes: int


@dataclass(frozen=True)
class InputLimits:
    json_max_depth: int = 64
    json_max_bytes: int = 16 * 1024 * 1024
    json_max_number_digits: int = 100
    max_query_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> InputLimits:
        return cls(
            json_max_depth=settings.json_max_depth,
            json_max_bytes=settings.json_max_bytes,
            json_max_number_digits=settings.json_max_number_digits,
            max_query_bytes=settings.max_query_bytes,
            max_header_bytes=settings.max_header_bytes,
        )


DEFAULT_LIMITS = InputLimits()


@lru_cache(maxsize=8)
def _outside_string(max_digits: int) -> re.Pattern[bytes]:
    """Outside strings, what matters: a quote, a bracket, or the start of a digit run longer than `max_digits`."""
    return re.compile(rb'["\[\]{}]|(?<![0-9])[0-9]{%d}' % (max_digits + 1))


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def is_form(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media.startswith(_FORM_TYPES)


def check_head(scope: Scope, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """414 when the query string is too long, 400 when it or the path has a NUL character, 431 when the headers
    together are too large."""
    query: bytes = scope.get("query_string", b"")
    if len(query) > limits.max_query_bytes:
        raise Problem(414, f"The query string has {len(query)} bytes; the limit is {limits.max_query_bytes}.",
                      code="query-too-long", limit=limits.max_query_bytes, size=len(query))  # fmt: skip
    if _QUERY_NUL.search(query) or "\x00" in scope.get("path", ""):
        where = "query string" if _QUERY_NUL.search(query) else "path"
        raise Problem(400, f"The {where} contains a NUL character (%00); text may not contain it.",
                      code="nul-character", where=where)  # fmt: skip
    headers = scope.get("headers", ())
    total = sum(len(name) + len(value) for name, value in headers)
    if total > limits.max_header_bytes:
        largest = max(headers, key=lambda h: len(h[0]) + len(h[1]))[0].decode("latin-1")
        raise Problem(
            431,
            f"The request headers have {total} bytes (the largest: {largest}); the limit is {limits.max_header_bytes}.",
            code="headers-too-large",
            limit=limits.max_header_bytes,
            size=total,
            header=largest,
        )


def check_json(body: bytes, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """400 when `body`, read as JSON, nests deeper than the limit, has a number with too many digits or a NUL
    character (which no text column of PostgreSQL takes).

    Only brackets and digits outside strings count, as a JSON parser sees them; the rest of the text is not checked
    (the parser that comes next says what else is wrong)."""
    if (nul := _NUL.search(body)) is not None:
        offset = nul.start() if nul.group() == b"\x00" else nul.end() - 6
        raise Problem(400, f"The JSON body has a NUL character (\\u0000) at byte {offset}; text may not contain it.",
                      code="nul-character", where="body", offset=offset)  # fmt: skip
    outside = _outside_string(limits.json_max_number_digits)
    depth = deepest = 0
    exceeded_at = -1
    pos = 0
    while (match := outside.search(body, pos)) is not None:
        token = body[match.start()]
        if token == 0x22:  # '"'
            rest = _STRING_REST.match(body, match.end())
            if rest is None:  # an unterminated string: to a parser all that follows is inside it
                break
            pos = rest.end()
            continue
        pos = match.end()
        if token in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > limits.json_max_depth and exceeded_at < 0:
                    exceeded_at = match.start()
        elif token in b"]}":
            depth = max(depth - 1, 0)
        else:
            end = pos
            while end < len(body) and 0x30 <= body[end] <= 0x39:
                end += 1
            raise Problem(
                400,
                f"A number in the JSON body at byte {match.start()} has {end - match.start()} digits; "
                f"the limit is {limits.json_max_number_digits}.",
                code="json-number-too-long",
                limit=limits.json_max_number_digits,
                digits=end - match.start(),
                offset=match.start(),
            )
    if exceeded_at >= 0:
        raise Problem(
            400,
            f"The JSON body nests {deepest} levels deep (the limit of {limits.json_max_depth} is passed at byte "
            f"{exceeded_at}).",
            code="json-too-deep",
            limit=limits.json_max_depth,
            depth=deepest,
            offset=exceeded_at,
        )


def check_body(body: bytes, content_type: str | None, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """The checks of a request body before it is parsed.

    A JSON body (application/json, application/*+json) must fit `json_max_bytes` (else 413), be UTF-8 and pass
    `check_json` (else 400). Forms pass unchecked. A body of any other or no declared type is checked like JSON when
    it is UTF-8 text within the size limit, because endpoints that take raw bodies (imports, webhooks) may parse it
    as JSON whatever its type says; binary bodies (spreadsheets, files) are left alone."""
    if not body or is_form(content_type):
        return
    declared = is_json(content_type)
    if len(body) > limits.json_max_bytes:
        if declared:
            raise Problem(413, f"The JSON body has {len(body)} bytes; the limit is {limits.json_max_bytes}.",
                          code="json-too-large", limit=limits.json_max_bytes, size=len(body))  # fmt: skip
        return
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if declared:
            raise Problem(400, f"The JSON body is not valid UTF-8 (at byte {exc.start}).", code="invalid-utf-8",
                          offset=exc.start) from None  # fmt: skip
        return
    check_json(body, limits)


def loads(body: bytes, limits: InputLimits = DEFAULT_LIMITS) -> Any:
    """The JSON document in `body`, checked first; any body that is not a JSON document is a 400 problem."""
    check_body(body, "application/json", limits)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}.", code="invalid-json") from None


class InputLimitsMiddleware:
    """Pure ASGI: `check_head` on every request, then `check_body` on a body read here (up to `json_max_bytes`) and
    handed on unchanged; a refusal is answered as problem+json without calling the app."""

    def __init__(self, app: ASGIApp, limits: InputLimits = DEFAULT_LIMITS) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_head(scope, self.limits)
        except Problem as exc:
            await _refuse(exc, scope, send)
            return
        content_type = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
                break
        if is_form(content_type):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        complete = False
        while size <= self.limits.json_max_bytes:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                complete = True
                break
        if complete:
            body = b"".join(m.get("body", b"") for m in messages)
            try:
                check_body(body, content_type, self.limits)
            except Problem as exc:
                await _refuse(exc, scope, send)
                return
        elif size > self.limits.json_max_bytes and is_json(content_type):
            await _refuse(Problem(413, f"The JSON body is larger than {self.limits.json_max_bytes} bytes.",
                                  code="json-too-large", limit=self.limits.json_max_bytes), scope, send)  # fmt: skip
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(exc: Problem, scope: Scope, send: Send) -> None:
    headers = {"Connection": "close"} if exc.status == 413 else None
    response = problem_response(exc.status, exc.detail, code=exc.code, title=exc.title, instance=scope.get("path"),
                                headers=headers, **exc.extensions)  # fmt: skip
    await response(scope, _disconnected, send)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}

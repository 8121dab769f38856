"""Requests refused before anything else looks at them: odd paths (traversal, encoded separators, control
characters) and bodies over the size limit."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import problem_response

DRAIN_LIMIT = 1 << 20
_RAW_BAD = re.compile(rb"%(2f|5c|00)", re.IGNORECASE)
_DECODED_BAD = re.compile(r"%(2e|2f|5c)|[\x00-\x1f\x7f\\]", re.IGNORECASE)


def bad_path(scope: Scope) -> bool:
    path: str = scope["path"]
    raw: bytes = scope.get("raw_path") or b""
    if _RAW_BAD.search(raw) or _DECODED_BAD.search(path):
        return True
    return any(segment in (".", "..") for segment in path.split("/"))


class HygieneMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if bad_path(scope):
            await self._problem(scope, send, 400, "The path is not allowed (dot segments, encoded separators or "
                                "control characters).", "bad-path")
            return
        length = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None:
            if not length.isdigit():
                await self._problem(scope, send, 400, "Content-Length is not a number.", "bad-request")
                return
            if int(length) > self.max_body:
                await self._problem(scope, send, 413, f"The body is larger than {self.max_body} bytes.",
                                    "payload-too-large")
                return
            await self.app(scope, receive, send)
            return
        if not chunked:
            await self.app(scope, receive, send)
            return
        # No declared length: read the body here, counting, and hand it on only if it fits.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                # Read (and drop) a bounded rest of the body, so that a client still sending sees the answer.
                drained = 0
                while message.get("more_body", False) and drained < DRAIN_LIMIT:
                    message = await receive()
                    drained += len(message.get("body", b""))
                    if message["type"] != "http.request":
                        break
                await self._problem(scope, send, 413, f"The body is larger than {self.max_body} bytes.",
                                    "payload-too-large")
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _problem(scope: Scope, send: Send, status: int, detail: str, code: str) -> None:
        headers = {"Connection": "close"} if status == 413 else None
        response = problem_response(status, detail, code=code, headers=headers)
        await response(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}

"""Problem details (RFC 9457) for every error a service or the gateway returns."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://motcua.vn/problems/"

log = structlog.get_logger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    414: "URI too long",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Problem(Exception):
    """An error with an HTTP status that becomes a problem+json response.

    `code` is a short machine-readable slug (it becomes the `type` URI); extra keyword arguments become extension
    members of the problem document (for example `errors=[...]` or `field="..."`).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _slug(_TITLES.get(status, "error"))
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers
        self.extensions = extensions


class NotFound(Problem):
    def __init__(self, detail: str, **kw: Any) -> None:
        super().__init__(404, detail, **kw)


class Conflict(Problem):
    def __init__(self, detail: str, **kw: Any) -> None:
        super().__init__(409, detail, **kw)


class Invalid(Problem):
    """422: the request is well-formed but breaks a rule; `field` says where."""

    def __init__(self, detail: str, *, field: str | None = None, **kw: Any) -> None:
        if field is not None:
            kw.setdefault("errors", [{"loc": field.split("."), "msg": detail}])
        super().__init__(422, detail, **kw)


def _slug(text: str) -> str:
    return text.lower().replace(" ", "-")


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + (code or _slug(_TITLES.get(status, "error"))),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[Any]:
    return [part for part in loc]


#: SQLSTATEs of a server that is not there or takes no one more: 08 connection exception, 57P0x shutting down /
#: starting up, 53300 too many connections (the server's or the role's limit).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


def database_unavailable(exc: BaseException) -> bool:
    """A database outage (refused, reset, shutting down, restarting), as opposed to a bug in a statement: the
    request is answered 503 (retry later), like any other dependency that is down."""
    if isinstance(exc, ConnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    for err in (exc.orig, getattr(exc.orig, "__cause__", None)):
        if isinstance(err, (ConnectionError, TimeoutError)):
            return True
        sqlstate = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
    return False


def database_unavailable_response(exc: BaseException, path: str) -> JSONResponse:
    """The 503 answer to a request that met a database outage (see `database_unavailable`)."""
    log.warning("database_unavailable", path=path, error=repr(exc)[:300])
    return problem_response(
        503,
        "The database cannot be reached right now; nothing was changed. Try again shortly.",
        code="database-unavailable",
        instance=path,
        headers={"Retry-After": "2"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            code=exc.code,
            title=exc.title,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": _loc(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
        return problem_response(
            422,
            f"The request is not valid: {where}" if where else "The request is not valid",
            code="validation-error",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        return problem_response(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(ConnectionError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        return database_unavailable_response(exc, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(500, "An unexpected error occurred; it has been logged.", instance=request.url.path)

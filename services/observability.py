"""Structured JSON logs, the request id that ties a request to its events, and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_service: str | None = None
#: The access log: one line per request, rendered by structlog straight to stderr (the standard library's record and
#: formatter would cost several times more per line). `configure_logging` replaces it.
_access: Any = structlog.get_logger("access")

#: Keys that must never reach a log line (personal data stays in the service that owns it).
_REDACTED_KEYS = frozenset({"citizen_id", "phone", "email", "password", "id_number", "tax_code", "authorization"})


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> None:
    """Make `request_id` the current one for logs and for events written from this context."""
    _request_id.set(request_id)
    if request_id:
        structlog.contextvars.bind_contextvars(request_id=request_id)
    else:
        structlog.contextvars.unbind_contextvars("request_id")


def new_request_id() -> str:
    return uuid.uuid4().hex


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in _REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def _access_logger_name(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict["logger"] = "access"
    return event_dict


class RepeatedLinesFilter(logging.Filter):
    """Writes a warning or error at most once an `interval` per (logger, message), so that an outage that repeats
    the same failure many times a second (every Kafka client retrying a broker that is down) leaves a few lines.
    The message is the record's format string (aiokafka's "Unable connect to node with id %s: %s") or the event
    name of a structlog line, so the varying arguments do not make each line new. The first line after a quiet
    spell carries `suppressed`: how many of its repeats were left out since the previous one.

    Installed on the handler, it sees every record that reaches it: the kernel's structlog lines (through the
    standard library) and those of aiokafka, SQLAlchemy and uvicorn."""

    #: Past this many (logger, message) pairs, those not seen for an interval are forgotten.
    MAX_REMEMBERED = 1000

    def __init__(self, interval: float, level: int = logging.WARNING) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.clock = time.monotonic
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # → (when written, repeats left out since)
        self._lock = threading.Lock()  # SQLAlchemy and the default executor log from other threads

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level or self.interval <= 0:
            return True
        message = record.msg.get("event") if isinstance(record.msg, dict) else record.msg
        key = (record.name, str(message))
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.interval:
                self._last[key] = (last[0], last[1] + 1)
                return False
            if len(self._last) >= self.MAX_REMEMBERED:
                self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval}
            self._last[key] = (now, 0)
        if last is not None and last[1]:
            record.suppressed = last[1]
        return True


def _add_suppressed(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    suppressed = getattr(event_dict.get("_record"), "suppressed", None)
    if suppressed:
        event_dict["suppressed"] = suppressed
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool = True, repeat_interval: float = 30.0) -> None:
    """Route structlog and the standard library (uvicorn, aiokafka, SQLAlchemy) through one JSON renderer; the same
    warning or error at most once a `repeat_interval` (`RepeatedLinesFilter`)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    global _access
    _access = structlog.wrap_logger(
        structlog.WriteLogger(sys.stderr),
        processors=[shared[0], shared[1], _access_logger_name, *shared[3:], renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            _add_suppressed,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatedLinesFilter(repeat_interval))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The request middleware writes the access line (with the request id); uvicorn's own would repeat it.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    global _service
    _service = service
    structlog.contextvars.bind_contextvars(service=service)


HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests handled", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class RequestContextMiddleware:
    """Pure ASGI middleware: request id in and out, one access log line, request metrics.

    Written as plain ASGI rather than BaseHTTPMiddleware because the latter costs a task per request and breaks
    context variables set by the endpoint.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                # An id from outside is kept only if it is short and plain, so it cannot inject log lines.
                if 0 < len(candidate) <= 128 and candidate.replace("-", "").replace("_", "").isalnum():
                    request_id = candidate
                break
        request_id = request_id or new_request_id()
        structlog.contextvars.clear_contextvars()
        if _service:
            structlog.contextvars.bind_contextvars(service=_service)
        bind_request_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route_path, str(status)).inc()
            HTTP_LATENCY.labels(method, route_path).observe(elapsed)
            if route_path not in ("/healthz", "/readyz", "/metrics"):
                _access.info(
                    "request", method=method, path=scope.get("path"), status=status, ms=round(elapsed * 1000, 2)
                )

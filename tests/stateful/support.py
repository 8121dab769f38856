"""Driving Hypothesis's rule-based state machines against real services.

The rules of a `RuleBasedStateMachine` are synchronous; the services and their clients are async. A test starts one
`asyncio.Runner` for its whole run: the service (migrated database, broker, relay and consumers) is started once in
that loop, and every rule runs its coroutine there with `Driver.run`. Each Hypothesis example works on an aggregate of
its own (a new dossier, journey or bill), so examples share the running service without seeing each other's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings

T = TypeVar("T")

#: bounded: these run in CI every time
BOUNDED = settings(
    max_examples=20,
    stateful_step_count=15,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run: CI must not pass or fail by chance
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class Driver:
    """One event loop for a test run, with the async context managers it entered."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._stack = AsyncExitStack()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def enter(self, cm: AbstractAsyncContextManager[T]) -> T:
        return self.run(self._stack.enter_async_context(cm))

    def close(self, *cleanups: Callable[[], Awaitable[Any]]) -> None:
        try:
            self.run(self._stack.aclose())
            for cleanup in cleanups:
                self.run(cleanup())  # type: ignore[arg-type]
        finally:
            self._runner.close()


def no_server_error(response: httpx.Response) -> httpx.Response:
    """Any answer but a 5xx; a 4xx is problem+json."""
    assert response.status_code < 500, f"{response.request.method} {response.request.url} → {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response


async def twice(send: Callable[[], Awaitable[httpx.Response]], concurrent: bool) -> list[httpx.Response]:
    """The same command once, or two copies of it at once."""
    if not concurrent:
        return [no_server_error(await send())]
    return [no_server_error(r) for r in await asyncio.gather(send(), send())]

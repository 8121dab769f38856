"""Polling until something the test waits for has happened."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(
    condition: Callable[[], T | Awaitable[T]],
    timeout: float = 30.0,
    interval: float = 0.1,
    *,
    what: str | Callable[[], str] | None = None,
) -> T:
    """Call `condition` (plain or async) every `interval` seconds until it returns something true, and return that.
    After `timeout` seconds fail with an AssertionError saying what did not happen: `what` (a text, or a function
    describing the state then: what was seen instead), by default the condition's own name."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return held  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"{_describe(condition, what)} (waited {timeout:g} s)")
        await asyncio.sleep(interval)


def _describe(condition: Callable[[], object], what: str | Callable[[], str] | None) -> str:
    if callable(what):
        return what()
    if what is not None:
        return what
    name = getattr(condition, "__name__", "<lambda>")
    return "the condition did not hold" if name == "<lambda>" else f"{name} did not hold"

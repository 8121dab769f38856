"""tests/support's wait_for: returns what the condition gave once it holds, and fails saying what did not happen."""

from __future__ import annotations

import pytest

from tests.support import wait_for


async def test_returns_the_conditions_value_once_it_holds() -> None:
    calls: list[int] = []

    def third_time() -> list[int] | None:
        calls.append(1)
        return calls if len(calls) == 3 else None

    assert await wait_for(third_time, 5, 0) == [1, 1, 1]


async def test_an_async_condition_is_awaited() -> None:
    async def ready() -> str:
        return "ready"

    assert await wait_for(ready, 5, 0) == "ready"


async def test_a_condition_that_never_holds_fails_naming_it_or_what_was_seen() -> None:
    async def replica_fed() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"^replica_fed did not hold \(waited 0.05 s\)$"):
        await wait_for(replica_fed, 0.05, 0.01)
    seen = ["journey.started"]
    with pytest.raises(AssertionError, match=r"^no overdue event; saw \['journey.started'\] \(waited 0.05 s\)$"):
        await wait_for(lambda: False, 0.05, 0.01, what=lambda: f"no overdue event; saw {seen}")

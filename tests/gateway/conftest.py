from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvloop

from tests.gateway.support import FAMILIES, Upstream


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, str]]:
    """One real test service per route family, for the whole session."""
    procs = {family: Upstream(name) for family, name in FAMILIES.items()}
    for p in procs.values():
        p.start()
    try:
        for p in procs.values():
            p.wait()
        yield {family: p.url for family, p in procs.items()}
    finally:
        for p in procs.values():
            p.stop()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """The gateway runs on uvloop in production (uvicorn picks it), so its tests do too."""
    return {"uvloop": uvloop.new_event_loop}

from __future__ import annotations

from collections.abc import Iterator

import pytest

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

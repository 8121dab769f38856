from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import Broker
from tests.fuzz.support import RunningSystem, running_system


@pytest.fixture(scope="session")
def system(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """One whole system for the fuzz package (starting it takes a while; the tests only read or fail)."""
    postgres = os.environ.get("TEST_DATABASE_URL")
    with running_system(broker.bootstrap, tmp_path_factory.mktemp("system"), postgres) as running:
        yield running

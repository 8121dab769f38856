"""A bounded schemathesis run over the gateway's aggregated OpenAPI document, on the whole running system: every
operation, as admin, as a desk officer, as the portal (acting for a citizen) and anonymously, with
cases that fit the schema and cases that do not; then schemathesis's state machine, which chains operations along
the links it infers from the document (an id one answer returns is the path parameter of the next request). No
answer may be a 5xx, and a 4xx is problem+json (the providers' callbacks answer in each provider's own format
instead; they are public, and fuzzed once, anonymously).

Bounded and reproducible: a few derandomized examples per operation and client, no shrinking, no example
database (FUZZ_EXAMPLES sets the examples per operation). A failure prints the request as a curl command; keep
each one found as a plain regression test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.fuzz.support import RunningSystem

CLIENTS = ("admin", "desk", "citizen", "anonymous")
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "x-citizen-id", "x-citizen-account", "x-citizen-name"})
#: FUZZ_EXAMPLES=50 looks harder (locally; CI keeps the bounded default).
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "4"))
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def schema(system: RunningSystem) -> Any:
    return schemathesis.openapi.from_url(system.gateway + "/openapi.json")


@pytest.fixture(scope="module")
def operations(schema: Any) -> Iterator[list[Any]]:
    results = list(schema.get_all_operations())
    broken = [str(r.err()) for r in results if not isinstance(r, Ok)]
    assert not broken, broken
    yield [r.ok() for r in results]


def is_callback(path: str) -> bool:
    return path.startswith("/api/v1/callbacks/")


def send(system: RunningSystem, case: Any, headers: dict[str, str]) -> Any:
    """The case sent as `headers`' client: credentials the document lets schemathesis generate are dropped."""
    for name in list(case.headers or {}):
        if name.lower() in CREDENTIAL_HEADERS:
            del case.headers[name]
    return case.call(base_url=system.gateway, headers=headers, timeout=30)


def check(response: Any, case: Any) -> None:
    request = f"{case.method} {case.formatted_path} → {response.status_code}"
    where = f"{request}\n{case.as_curl_command()}\n{response.text[:500]}"
    assert response.status_code < 500, where
    if 400 <= response.status_code < 500 and not is_callback(case.formatted_path):
        assert response.headers.get("content-type", [""])[0].startswith("application/problem+json"), where
        document = response.json()
        assert document["status"] == response.status_code and document["detail"], where


def test_the_document_covers_every_family(operations: list[Any]) -> None:
    families = {op.path.split("/")[3] for op in operations if op.path.startswith("/api/v1/")}
    assert families >= {"auth", "catalogue", "dossiers", "routing", "payments", "stats"}, families


@pytest.mark.parametrize("client", CLIENTS)
def test_no_operation_answers_a_server_error(
    system: RunningSystem, operations: list[Any], client: str
) -> None:
    headers = system.headers[client]
    failures: list[str] = []
    for operation in operations:
        if is_callback(operation.path) and client != "anonymous":  # public: the same for every client
            continue
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

        @SETTINGS
        @hypothesis.given(case=strategy)
        def run(case: Any) -> None:
            check(send(system, case, headers), case)

        try:
            run()
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("client", ("admin", "desk", "citizen"))
def test_chained_operations_answer_no_server_error(system: RunningSystem, schema: Any, client: str) -> None:
    headers = system.headers[client]

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            return send(system, case, headers)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            check(response, case)

    Machine.run(settings=hypothesis.settings(SETTINGS, max_examples=10, stateful_step_count=6))

"""payment-svc/README.md's endpoint table says who may call each endpoint as the authorisation policy
(services/policy.py, which the gateway and payment-svc enforce) grants it: staff roles and administrators; the
callbacks (payment-svc's /webhooks/…, public at the gateway's /api/v1/callbacks/…) to anyone."""

from __future__ import annotations

import re

from services.policy import OPERATIONS, Caller
from tests.harness import ROOT

_ENDPOINT = re.compile(r"((?:(?:GET|POST|PUT|PATCH|DELETE)[`/]*)+)\s(/[^\s`?]+)")
_VERB = re.compile(r"GET|POST|PUT|PATCH|DELETE")


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _rows(readme: str) -> list[tuple[list[tuple[str, str]], str]]:
    table = readme.split("## Endpoints", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[3:]:
        endpoints, who = (cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))[:2])
        found = [(verb, path) for verbs, path in _ENDPOINT.findall(endpoints) for verb in _VERB.findall(verbs)]
        rows.append((found, who))
    return rows


def test_the_payment_readme_grants_what_the_policy_grants() -> None:
    readme = (ROOT / "payment-svc" / "README.md").read_text(encoding="utf-8")
    policy = {(op.method, _shape(op.path)): op for op in OPERATIONS}
    rows = _rows(readme)
    assert len(rows) >= 8
    for endpoints, who in rows:
        assert endpoints, who
        if all(path.startswith("/webhooks/") for _, path in endpoints):
            for method, path in endpoints:
                op = policy.get((method, _shape(path.replace("/webhooks/", "/api/v1/callbacks/", 1))))
                assert op is not None, f"{method} {path}: no callback route in services/policy.py"
                assert set(op.grants) == {Caller.ANYONE} and who.startswith("anyone"), (path, who, op.grants)
            continue
        for method, path in endpoints:
            op = policy.get((method, _shape(f"/api/v1/payments{path}")))
            assert op is not None, f"{method} {path}: no such operation in services/policy.py"
            says = {
                Caller.LEADER: "leader" in who or "staff" in who,
                Caller.ADMIN: "admin" in who,
                Caller.DESK: "desk officer" in who or "staff" in who,
            }
            for caller, granted in says.items():
                assert (caller in op.grants) == granted, f"{method} {path}: README says {who!r}, policy {op.grants}"

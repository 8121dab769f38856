"""Coarse authorisation in the gateway: which kinds of callers may call which operation, from the table of every
public operation in `services.policy` (docs/AUTHORISATION.md renders it), and the jurisdiction of unit-bound staff.
The services check again, finely, from the internal identity token: on what (which unit's, which citizen's).

Payment providers call /api/v1/callbacks/<provider> without credentials of ours (gateway/callbacks.py, not this
module's concern); wallet API keys, which carried them before, reach nothing. API keys must also hold the scope
``<family>:read`` / ``<family>:write``. A path the table does not know passes
only for administrators and callers allowed some operation of its family and kind (read or write): its service
answers 404. A desk
officer's or specialist's unit filter (query ``unit``, ``unit_id``, ``agency_id``, ``receiving_unit`` …; the same
keys at the top of a JSON body) must name their own unit, and a desk officer reaches only dossier codes
(``<agency id>-YYMMDD-NNNN``) of their own unit, in the path or the query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from services import policy
from services.errors import Problem
from services.identity import Identity, Role

READ_METHODS = policy.READ_METHODS
WEBHOOKS = ("payments", "webhooks")
#: Roles whose API keys carry scopes that are checked.
KEY_ROLES = frozenset({Role.PORTAL, Role.WALLET, Role.INTEGRATION})
#: Query parameters and top-level JSON keys that select a unit.
UNIT_PARAMS = frozenset(
    {"unit", "unit_id", "agency", "agency_id", "receiving_unit", "receiving_agency", "receiving_unit_id"}
)
JURISDICTION_ROLES = frozenset({Role.DESK_OFFICER, Role.SPECIALIST})
DOSSIER_CODE_RE = re.compile(r"(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})-\d{6}-\d{4}")


def forbidden(detail: str, code: str = "forbidden") -> Problem:
    return Problem(403, detail, code=code)


def authorise(who: Identity, family: str, rest: str, method: str) -> None:
    """Raises 403 (or 405) unless `who` may call `method` on /api/v1/<family>/<rest>."""
    if family == WEBHOOKS[0] and (rest == WEBHOOKS[1] or rest.startswith(WEBHOOKS[1] + "/")):
        raise Problem(404, "Payment providers deliver their callbacks to /api/v1/callbacks/<provider>, without "
                      "credentials of ours (gateway/callbacks.py).", code="not-found")
    if who.role == Role.WALLET:
        raise forbidden("Wallet API keys reach nothing: providers' callbacks go to /api/v1/callbacks/<provider> "
                        "with the provider's signature as their credential.", "wallet-keys-retired")
    access = "read" if method in READ_METHODS else "write"
    if who.role == Role.PORTAL and access == "write" and who.citizen is None:
        raise forbidden("The portal writes only on behalf of a citizen (X-Citizen-Id).", "citizen-required")
    caller = policy.caller_of(who)
    path = f"/api/v1/{family}/{rest}" if rest else f"/api/v1/{family}"
    row = policy.operation(method, path)
    if row is not None:
        if caller not in row.grants:
            raise forbidden(f"A {caller.value} caller may not call {row.method} {row.path} (docs/AUTHORISATION.md).")
    elif caller is not policy.Caller.ADMIN and caller not in policy.family_callers(family, read=access == "read"):
        raise forbidden(f"A {caller.value} caller may not {access} {family}.")
    if who.role in KEY_ROLES and f"{family}:{access}" not in who.scopes:
        raise forbidden(f"This API key lacks the scope {family}:{access}.", "missing-scope")


def check_jurisdiction(who: Identity, path: str, query: Mapping[str, list[str]], body: bytes | None,
                       content_type: str | None) -> None:
    """Unit filters and dossier codes of another unit are refused for unit-bound staff."""
    if who.role not in JURISDICTION_ROLES:
        return
    unit = who.unit
    for name, values in query.items():
        if name.lower() in UNIT_PARAMS and any(v != unit for v in values):
            raise forbidden(f"You act for unit {unit} only.", "out-of-jurisdiction")
    is_json = bool(content_type) and str(content_type).split(";")[0].strip().lower() == "application/json"
    if body and is_json and len(body) < 1 << 20:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # the edge refuses such bodies first (services.input_limits)
            document = None
        if isinstance(document, dict):
            for name, value in document.items():
                if name.lower() in UNIT_PARAMS and isinstance(value, str) and value != unit:
                    raise forbidden(f"You act for unit {unit} only.", "out-of-jurisdiction")
    if who.role == Role.DESK_OFFICER:
        texts = [path, *(v for values in query.values() for v in values)]
        for text in texts:
            for match in DOSSIER_CODE_RE.finditer(text):
                if match.group(1) != unit:
                    raise forbidden(
                        f"Dossier {match.group(0)} belongs to another unit; you act for unit {unit} only.",
                        "out-of-jurisdiction",
                    )

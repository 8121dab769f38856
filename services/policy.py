"""Who may do what, written once.

`OPERATIONS` is the table of every public operation of the gateway (its /openapi.json): which callers may call it
and on what. The gateway's coarse check (`gateway/gateway/policy.py`) reads it for every proxied request; the services
check the "on what" against their own data (a dossier's receiving unit, a journey's units, a bill's owner reference)
with the helpers below; `tests/authz/test_matrix.py` walks every operation × every kind of caller on the real system
and asserts each answer from this table, and docs/AUTHORISATION.md is rendered from it
(``python -m services.policy > docs/AUTHORISATION.md``, checked by a test).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from services.errors import NotFound, Problem
from services.identity import Identity, Role


class Caller(StrEnum):
    """Kinds of callers, as the gateway tells them apart."""

    ANYONE = "anyone"  # no credentials needed (the operation checks its own: a password, a provider's signature)
    PORTAL = "portal"  # the portal's API key, acting for nobody
    CITIZEN = "citizen"  # the portal's API key acting for a citizen (X-Citizen-Id)
    WALLET = "wallet"  # a wallet's API key
    INTEGRATION = "integration"  # another system's scoped API key
    DESK = "desk_officer"
    SPECIALIST = "specialist"
    LEADER = "leader"
    ADMIN = "admin"


class On(StrEnum):
    """What a caller may reach with the operation."""

    ANY = "anything"
    OWN_UNIT = "own unit"  # the object belongs to, or its route passes through, the caller's unit
    SUBTREE = "own unit's subtree"  # … the caller's unit or a unit below it (ward → city → province)
    OWN_CITIZEN = "own citizen"  # the object is the citizen's the portal acts for
    SELF = "own account"  # the caller's own credentials or uploads
    SIGNED = "signature"  # whatever the provider's signature covers, checked by payment-svc


STAFF = (Caller.DESK, Caller.SPECIALIST, Caller.LEADER, Caller.ADMIN)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as in the gateway's /openapi.json
    grants: Mapping[Caller, On]
    note: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", self.path)
        )
        object.__setattr__(self, "pattern", re.compile(regex + "/?"))

    @property
    def family(self) -> str:
        return self.path.split("/")[3]

    @property
    def literal_segments(self) -> int:
        return sum(1 for s in self.path.split("/") if s and not s.startswith("{"))


def _op(method: str, path: str, note: str = "", **grants: On) -> Operation:
    return Operation(method, path, {Caller(k): v for k, v in grants.items()}, note)


def _everyone_but_wallets(method: str, path: str, note: str = "") -> Operation:
    return Operation(
        method,
        path,
        {Caller.PORTAL: On.ANY, Caller.CITIZEN: On.ANY, Caller.INTEGRATION: On.ANY, **dict.fromkeys(STAFF, On.ANY)},
        note,
    )


_O, _U, _C, _SELF, _A = On.OWN_UNIT, On.SUBTREE, On.OWN_CITIZEN, On.SELF, On.ANY
C = "/api/v1/catalogue"
D = "/api/v1/dossiers"
R = "/api/v1/routing"
P = "/api/v1/payments"
K = "/api/v1/callbacks"
S = "/api/v1/stats"
V = "/api/v1/deliveries"
A = "/api/v1/auth"

#: A dossier's reading: the citizen's own, the unit's staff, an administrator.
_DOSSIER_READERS = {"citizen": _C, "desk_officer": _O, "specialist": _O, "leader": _O, "admin": _A}
#: A journey's reading: the units on its route (its receiving unit, holder, pending hop, steps), leaders of a unit
#: above one of those, an administrator.
_JOURNEY_READERS = {"desk_officer": _O, "specialist": _O, "leader": _U, "admin": _A}
#: Routing's commands: staff of the unit that holds the dossier (or that a hop is addressed to); staff of a unit
#: with no part in the journey learn nothing more of it (403 before any other answer).
_JOURNEY_ACTORS = {"desk_officer": _O, "specialist": _O, "leader": _O, "admin": _O}
_ACTORS_NOTE = "an administrator too, if their account is bound to a unit"
_BILL_READERS = {"citizen": _C, "desk_officer": _O, "specialist": _O, "leader": _O, "admin": _A}
_REPORT_READERS = {"leader": _U, "admin": _A}

OPERATIONS: tuple[Operation, ...] = (
    # the gateway's own
    _op("GET", "/healthz", anyone=_A),
    _op("POST", f"{A}/token", "the password is the credential", anyone=_A),
    _op("GET", f"{A}/whoami", portal=_SELF, citizen=_SELF, wallet=_SELF, integration=_SELF, desk_officer=_SELF,
        specialist=_SELF, leader=_SELF, admin=_SELF),
    _op("POST", f"{A}/password", desk_officer=_SELF, specialist=_SELF, leader=_SELF, admin=_SELF),
    _op("POST", f"{A}/staff/{{username}}/deactivate", admin=_A),
    _op("POST", f"{A}/staff/{{username}}/reactivate", admin=_A),
    # catalogue-svc: everyone reads, administrators write
    _everyone_but_wallets("GET", f"{C}/fields"),
    _op("POST", f"{C}/fields", admin=_A),
    _everyone_but_wallets("GET", f"{C}/procedures"),
    _everyone_but_wallets("GET", f"{C}/procedures/{{code}}"),
    _everyone_but_wallets("GET", f"{C}/procedures/{{code}}/versions"),
    _everyone_but_wallets("GET", f"{C}/procedures/{{code}}/in-force"),
    _op("POST", f"{C}/procedures/{{code}}/decisions", admin=_A),
    _op("PUT", f"{C}/procedures/{{code}}/units", admin=_A),
    _everyone_but_wallets("GET", f"{C}/units"),
    _op("POST", f"{C}/units", admin=_A),
    _everyone_but_wallets("GET", f"{C}/units/{{agency_id}}"),
    _op("POST", f"{C}/units/merge", admin=_A),
    _everyone_but_wallets("GET", f"{C}/calendar/deadline"),
    _everyone_but_wallets("GET", f"{C}/calendar/{{year}}"),
    _op("PUT", f"{C}/calendar/{{year}}", admin=_A),
    _everyone_but_wallets("GET", f"{C}/listing/{{agency_id}}"),
    _op("POST", f"{C}/imports", admin=_A),
    _op("GET", f"{C}/imports/{{run_id}}", admin=_A),
    # intake-svc
    _op("POST", f"{D}/dossiers", "the portal online for its citizen; a desk in person or by post for its unit",
        citizen=_C, desk_officer=_O),
    _op("GET", f"{D}/dossiers", **_DOSSIER_READERS),
    _op("GET", f"{D}/dossiers/{{dossier_id}}", **_DOSSIER_READERS),
    _op("POST", f"{D}/dossiers/{{dossier_id}}/supplement-request", desk_officer=_O),
    _op("POST", f"{D}/dossiers/{{dossier_id}}/supplement", citizen=_C, desk_officer=_O),
    _op("POST", f"{D}/dossiers/{{dossier_id}}/refuse", desk_officer=_O),
    _op("POST", f"{D}/dossiers/{{dossier_id}}/withdraw", citizen=_C, desk_officer=_O),
    _op("POST", f"{D}/dossiers/{{dossier_id}}/return-result", desk_officer=_O),
    _op("GET", f"{D}/dossiers/{{dossier_id}}/forms/{{form}}", **_DOSSIER_READERS),
    _op("GET", f"{D}/dossiers/{{dossier_id}}/documents/{{index}}/content", **_DOSSIER_READERS),
    _op("GET", f"{D}/tracking/{{code}}", "with the dossier's second factor (phone or id number)",
        portal=_A, citizen=_A, desk_officer=_O, specialist=_A, leader=_A, admin=_A),
    _op("POST", f"{D}/uploads", "an upload is then usable by its uploader only", citizen=_SELF, desk_officer=_SELF),
    _op("POST", f"{D}/accounts/assisted", desk_officer=_O),
    _op("GET", f"{D}/counts", **_REPORT_READERS),
    # routing-svc
    _op("GET", f"{R}/journeys/{{dossier_id}}", **_JOURNEY_READERS),
    _op("GET", f"{R}/journeys/{{dossier_id}}/actions", **_JOURNEY_READERS),
    *(
        _op("POST", f"{R}/journeys/{{dossier_id}}/{command}", _ACTORS_NOTE, **_JOURNEY_ACTORS)
        for command in ("transfer", "hops/{hop_id}/accept", "hops/{hop_id}/reject", "assign", "complete", "refuse",
                        "supplement", "resume", "extend", "return")
    ),
    _op("GET", f"{R}/journeys/{{dossier_id}}/forms/04", **_JOURNEY_READERS),
    _op("GET", f"{R}/journeys/{{dossier_id}}/forms/05", **_JOURNEY_READERS),
    _op("GET", f"{R}/worklists/{{unit}}", **_JOURNEY_READERS),
    # payment-svc
    # the providers' callbacks (gateway/callbacks.py): no credentials of ours, the provider's signature instead
    _op("POST", f"{K}/payos", "payOS webhook, and the URL confirmation payOS sends", anyone=On.SIGNED),
    _op("GET", f"{K}/vnpay", "VNPay IPN (the signed query string)", anyone=On.SIGNED),
    _op("GET", f"{K}/vnpay/return", "the citizen's browser back from VNPay: shows the result, changes nothing",
        anyone=On.SIGNED),
    _op("POST", f"{K}/momo", "MoMo IPN", anyone=On.SIGNED),
    _op("POST", f"{K}/zalopay", "ZaloPay callback", anyone=On.SIGNED),
    _op("GET", f"{P}/bills", desk_officer=_O, specialist=_O, leader=_O, admin=_A),
    _op("GET", f"{P}/bills/{{bill_id}}", **_BILL_READERS),
    _op("GET", f"{P}/dossiers/{{dossier_id}}/bill", **_BILL_READERS),
    _op("GET", f"{P}/bills/{{bill_id}}/vietqr", **_BILL_READERS),
    _op("POST", f"{P}/bills/{{bill_id}}/payments", citizen=_C, desk_officer=_O),
    _op("GET", f"{P}/payments/{{payment_id}}", **_BILL_READERS),
    _op("GET", f"{P}/bills/{{bill_id}}/ledger", **_BILL_READERS),
    _op("POST", f"{P}/payments/{{payment_id}}/refunds", desk_officer=_O, admin=_A),
    _op("POST", f"{P}/payments/expire", admin=_A),
    _op("POST", f"{P}/reconciliations/{{provider}}", admin=_A),
    _op("GET", f"{P}/reconciliations/{{settlement_id}}", admin=_A),
    # stats-svc
    *(_op("GET", f"{S}/reports/{report}", **_REPORT_READERS)
      for report in ("quarterly", "ii06a", "ii06a.csv", "indicators", "report.xlsx", "page")),
    # connect-svc: what the national portal was sent, for administrators
    _op("GET", V, "?state=parked: what the portal refused or never took", admin=_A),
    _op("GET", f"{V}/{{delivery_id}}", admin=_A),
    _op("POST", f"{V}/{{delivery_id}}/resend", "a parked delivery, once its cause is fixed", admin=_A),
)


def _by_specificity(ops: Iterable[Operation]) -> list[Operation]:
    return sorted(ops, key=lambda o: -o.literal_segments)


_BY_FAMILY_METHOD: dict[tuple[str, str], list[Operation]] = {}
for _operation in OPERATIONS:
    _BY_FAMILY_METHOD.setdefault((_operation.path.split("/")[3] if _operation.path.startswith("/api/v1/") else "",
                                  _operation.method), []).append(_operation)
for _key, _ops in _BY_FAMILY_METHOD.items():
    _BY_FAMILY_METHOD[_key] = _by_specificity(_ops)


def operation(method: str, path: str) -> Operation | None:
    """The row of `method` on the public `path` (HEAD as GET), or None for a path the table does not know."""
    method = "GET" if method == "HEAD" else method
    family = path.split("/")[3] if path.startswith("/api/v1/") and path.count("/") >= 3 else ""
    for candidate in _BY_FAMILY_METHOD.get((family, method), ()):
        if candidate.pattern.fullmatch(path):
            return candidate
    return None


@functools.cache
def family_callers(family: str, read: bool) -> frozenset[Caller]:
    """Who may call anything of a family at all: for paths the table does not know (the service answers 404)."""
    return frozenset(
        caller
        for o in OPERATIONS
        if o.path.startswith(f"/api/v1/{family}/") and (o.method in READ_METHODS) == read
        for caller in o.grants
    )


def caller_of(who: Identity) -> Caller:
    if who.role is Role.PORTAL:
        return Caller.CITIZEN if who.citizen is not None else Caller.PORTAL
    return Caller(who.role.value)


# -- the rules the services apply to their own data ----------------------------------------------------------------


def owner_ref(secret: str, id_number: str) -> str:
    """Whose a dossier is, without saying who: a keyed hash of the applicant's id number (12-digit citizen id or
    tax code). Only services holding the secret can compute it for a citizen the portal names, and nobody reading
    the general topics can turn it back into an id number or test a guess."""
    return hmac.new(secret.encode(), id_number.strip().encode(), hashlib.sha256).hexdigest()


def subtree(parents: Mapping[str, str | None], root: str) -> frozenset[str]:
    """`root` and every unit below it, given each unit's parent (ward → city → province)."""
    children: dict[str, list[str]] = {}
    for unit, parent in parents.items():
        if parent:
            children.setdefault(parent, []).append(unit)
    seen = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return frozenset(seen)


def reaches(parents: Mapping[str, str | None], own: str | None, units: Iterable[str | None]) -> bool:
    """Whether one of `units` lies in the subtree of `own` (a leader's unit)."""
    if not own:
        return False
    mine = subtree(parents, own)
    return any(u in mine for u in units if u)


@dataclass(frozen=True)
class UnitScope:
    """The units a count or a report covers: `root`'s subtree, or every unit when `root` is None."""

    root: str | None
    units: frozenset[str] | None


def unit_scope(parents: Mapping[str, str | None], who: Identity, unit: str | None, *, reading: str) -> UnitScope:
    """What `who` may read (`reading`: "reports", "counts"): a leader the subtree of their own unit or of a unit
    inside it (their own by default), an administrator any unit's subtree or, without `unit`, every unit."""
    if who.role not in (Role.LEADER, Role.ADMIN):
        raise Problem(403, f"Role {who.role.value} may not read {reading} (leader, admin).", code="forbidden")
    if who.role is Role.LEADER:
        if not who.unit:
            raise Problem(403, "A leader's identity carries no unit.", code="forbidden")
        unit = unit or who.unit
    if unit is None:
        return UnitScope(None, None)
    if unit not in parents:
        raise NotFound(f"Unknown unit {unit!r} (units come from the catalogue).", code="unknown-unit")
    if who.role is Role.LEADER and unit not in subtree(parents, who.unit or ""):
        raise Problem(403, f"Unit {unit} is outside your unit {who.unit}.", code="outside-jurisdiction")
    return UnitScope(unit, subtree(parents, unit))


# -- the table as a document ----------------------------------------------------------------------------------------

_COLUMNS = (Caller.ANYONE, Caller.PORTAL, Caller.CITIZEN, Caller.WALLET, Caller.INTEGRATION, Caller.DESK,
            Caller.SPECIALIST, Caller.LEADER, Caller.ADMIN)
_SHORT = {On.ANY: "any", On.OWN_UNIT: "unit", On.SUBTREE: "subtree", On.OWN_CITIZEN: "own", On.SELF: "self",
          On.SIGNED: "signed"}


def render() -> str:
    """docs/AUTHORISATION.md."""
    head = (DOC_INTRO, "| operation | " + " | ".join(c.value for c in _COLUMNS) + " | note |",
            "|---|" + "---|" * len(_COLUMNS) + "---|")
    rows = [
        f"| `{o.method} {o.path}` | "
        + " | ".join(_SHORT[o.grants[c]] if c in o.grants else "—" for c in _COLUMNS)
        + f" | {o.note} |"
        for o in OPERATIONS
    ]
    return "\n".join([*head, *rows]) + "\n"


DOC_INTRO = """# Authorisation

Generated from `services/policy.py` (`python -m services.policy > docs/AUTHORISATION.md`; a test keeps it current).
One row per operation of the gateway's `/openapi.json`, one column per kind of caller; a cell says on what the
caller may use the operation, a dash that it may not (401 without valid credentials, else 403 — or 404 where an
object of another citizen must not be seen to exist, or 405).

- **any**: anything; **unit**: what belongs to the caller's own unit (a dossier received there, a bill of it, a
  journey whose route passes through it, the unit's worklist); **subtree**: the same for the caller's unit and every
  unit below it (a city leader reads its wards'); **own**: the citizen's own, for the portal acting for a citizen
  (`X-Citizen-Id`); **self**: the caller's own account or uploads; **signed**: what the provider's signature covers.
- *portal* is the portal's API key acting for nobody, *citizen* the same key with `X-Citizen-Id`.
- The gateway refuses a caller without a cell (403) before the request reaches a service, and refuses desk officers
  and specialists a unit filter or a dossier code of another unit; the services check the cell's "on what" against
  their own data: intake the dossier's receiving unit and applicant, routing the journey's units and the unit tree
  (`services.policy.subtree`, shared with stats-svc and intake's counts), payment-svc the bill's unit and the
  applicant's owner reference.
- **Owner reference.** payment-svc holds no personal data and the topics carry none: intake puts on
  `DossierReceived` `owner_ref`, HMAC-SHA256 of the applicant's id number keyed with `MOTCUA_OWNER_REF_SECRET`
  (`services.policy.owner_ref`, a secret only intake and payment-svc hold); payment-svc keeps it on the bill and
  compares the reference of the citizen in the internal identity token. Nobody without the secret can tell whose a
  reference is or test a guessed id number.
- API keys must also hold the scope `<family>:read` / `<family>:write`; wallet API keys reach nothing (the providers'
  callbacks carry no credentials of ours). A path
  the table does not know is let through only to administrators and to callers allowed some operation of its family
  and method kind (read or write); its service answers 404.
- `tests/authz/test_matrix.py` calls every operation as every kind of caller (and with forged, expired,
  wrong-secret tokens and a deactivated account's) on the real services and checks each answer against this table;
  an operation of `/openapi.json` without a row fails it.
"""


if __name__ == "__main__":
    print(render(), end="")

"""Random command sequences on the rules alone: the journey's invariants hold after every step, and a refused
command leaves nothing behind (its state is a value: nothing to roll back)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as hs
from routing.domain import rules
from routing.domain import status as st
from routing.domain.model import Actor, Decision, Journey, Route

from services.errors import Problem
from tests.routing.domain.journeys import (
    AT_HOME,
    CAL,
    CITY_JUSTICE,
    FROM_CITY,
    INTER3,
    PROVINCE_JUSTICE,
    SIMPLE,
    T0,
    WARD,
    Run,
    staff,
)

Command = Callable[[Journey, Actor, int], Decision | None]
UNITS = ["holder", "pending", WARD, CITY_JUSTICE, PROVINCE_JUSTICE]


def _when(step: int) -> datetime:
    return T0 + timedelta(hours=7 * step)


COMMANDS: dict[str, Command] = {
    "complete": lambda j, a, n: rules.complete(j, a, "Giấy chứng nhận", None, _when(n)),
    "assign": lambda j, a, n: rules.assign(j, a, "cb.xu.ly", None, _when(n)),
    "transfer": lambda j, a, n: rules.transfer(j, a, None, None, None, _when(n)),
    "refuse": lambda j, a, n: rules.refuse(j, a, ["Không đủ điều kiện"], None, _when(n)),
    "supplement": lambda j, a, n: rules.request_supplement(j, a, ["TP01"], "thiếu", _when(n)),
    "resume": lambda j, a, n: rules.resume(j, a, None, _when(n), CAL),
    "return": lambda j, a, n: rules.return_to_desk(j, a, None, _when(n)),
    "extend": lambda j, a, n: rules.extend(j, a, (T0 + timedelta(days=40)).date(), "x", _when(n), CAL),
    "accept": lambda j, a, n: rules.accept_hop(j, j.pending_hop_id or 1, a, _when(n)),
    "reject": lambda j, a, n: rules.reject_hop(j, j.pending_hop_id or 1, a, "không", _when(n)),
    "handed_in": lambda j, a, n: rules.supplemented(j, _when(n), None, CAL),
    "withdrawn": lambda j, a, n: rules.close(j, st.WITHDRAWN, "rút", _when(n), None),
    "returned": lambda j, a, n: rules.close(j, st.RESULT_RETURNED, "trả", _when(n), None),
}


def check_invariants(run: Run) -> None:
    j = run.journey
    assert j.holder_unit
    assert (j.pending_hop_id is not None) == (j.pending_unit is not None) == (j.phase == "awaiting")
    assert j.hops is not None
    assert sum(h.state == "requested" for h in j.hops) == (1 if j.phase == "awaiting" else 0)
    assert sum(s.state == "active" for s in j.steps) <= 1
    status = None
    for a in run.actions:
        new = st.next_status(status, a.action, a.data)
        assert st.allowed(status, new) or a.actor == "intake", f"{status} → {new} by {a.action}"
        status = new
    assert status is not None and int(status) == j.status


@settings(max_examples=200, deadline=None)
@given(
    hs.sampled_from([INTER3, FROM_CITY, AT_HOME, SIMPLE]),
    hs.lists(hs.tuples(hs.sampled_from(sorted(COMMANDS)), hs.sampled_from(UNITS)), max_size=25),
)
def test_random_commands_keep_the_invariants(route: Route, steps: list[tuple[str, str]]) -> None:
    run = Run.start(route)
    check_invariants(run)
    for n, (name, who) in enumerate(steps, start=1):
        before, logged = run.journey, len(run.actions)
        unit = {"holder": before.holder_unit, "pending": before.pending_unit or before.holder_unit}.get(who, who)
        try:
            run.apply(COMMANDS[name](before, staff(unit), n))
        except Problem:
            assert run.journey is before and len(run.actions) == logged
        if before.phase == "closed":
            assert run.journey == before
        check_invariants(run)

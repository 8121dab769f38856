"""The kernel's reporting period and unit scope (services/periods.py, services/policy.unit_scope), shared by
intake's counts and stats' reports."""

from __future__ import annotations

from datetime import date

import pytest

from services.errors import Problem
from services.identity import Identity, Role
from services.periods import Period, period
from services.policy import UnitScope, unit_scope

PARENTS = {"province": None, "city": "province", "ward-1": "city", "ward-2": "city", "town": "province"}


def test_a_period_is_both_days_inclusive_and_shifts_by_its_own_length() -> None:
    p = period(date(2021, 5, 16), date(2021, 8, 15), max_days=92)
    assert p == Period(date(2021, 5, 16), date(2021, 8, 15)) and p.days == 92
    assert p.shifted(1) == Period(date(2021, 2, 13), date(2021, 5, 15))
    assert p.as_dict() == {"from": "2021-05-16", "to": "2021-08-15"}


@pytest.mark.parametrize(
    ("start", "end", "field", "says"),
    [
        (None, date(2021, 1, 1), "query.from", "needs a first day"),
        (date(2021, 1, 1), None, "query.to", "needs a last day"),
        (date(2021, 1, 2), date(2021, 1, 1), "query.from", "is after"),
        (date(2021, 1, 1), date(2021, 1, 11), "query.to", "longer than 10 days"),
    ],
)
def test_a_bad_period_says_what_and_where(start: date | None, end: date | None, field: str, says: str) -> None:
    with pytest.raises(Problem) as refused:
        period(start, end, max_days=10)
    assert refused.value.status == 422 and says in refused.value.detail
    assert refused.value.extensions["errors"][0]["loc"] == field.split(".")


def _who(role: Role, unit: str | None = None) -> Identity:
    return Identity(subject="s", role=role, unit=unit)


def test_a_leader_reads_their_subtree_by_default_or_a_unit_inside_it() -> None:
    assert unit_scope(PARENTS, _who(Role.LEADER, "city"), None, reading="reports") == UnitScope(
        "city", frozenset({"city", "ward-1", "ward-2"})
    )
    assert unit_scope(PARENTS, _who(Role.LEADER, "city"), "ward-2", reading="reports") == UnitScope(
        "ward-2", frozenset({"ward-2"})
    )
    assert unit_scope(PARENTS, _who(Role.ADMIN), None, reading="counts") == UnitScope(None, None)


@pytest.mark.parametrize(
    ("who", "unit", "status", "code"),
    [
        (_who(Role.DESK_OFFICER, "city"), None, 403, "forbidden"),
        (_who(Role.LEADER), None, 403, "forbidden"),
        (_who(Role.LEADER, "city"), "town", 403, "outside-jurisdiction"),
        (_who(Role.ADMIN), "nowhere", 404, "unknown-unit"),
    ],
)
def test_what_a_caller_may_not_read_is_refused(who: Identity, unit: str | None, status: int, code: str) -> None:
    with pytest.raises(Problem) as refused:
        unit_scope(PARENTS, who, unit, reading="counts")
    assert (refused.value.status, refused.value.code) == (status, code)

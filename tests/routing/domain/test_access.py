"""Who may act on and read which journey, for each role."""

from __future__ import annotations

import pytest
from routing.domain import access, rules

from services.errors import Problem
from services.identity import Identity, Role
from tests.routing.domain.journeys import CITY_JUSTICE, INTER3, PROVINCE_JUSTICE, WARD, WARD_B, Run, later, staff

CITY = "000.00.31.H57"
PROVINCE = "000.00.00.H57"
#: each unit's parent, as the catalogue replica has them
PARENTS = {
    PROVINCE: None,
    PROVINCE_JUSTICE: PROVINCE,
    CITY: PROVINCE,
    CITY_JUSTICE: CITY,
    WARD: CITY,
    WARD_B: CITY,
}


def who(role: Role, unit: str | None) -> Identity:
    return Identity(subject=f"{role.value}@{unit}", role=role, unit=unit)


def test_only_staff_bound_to_a_unit_act() -> None:
    systems = [who(role, WARD) for role in (Role.PORTAL, Role.WALLET, Role.INTEGRATION)]  # a unit makes no staff
    for caller in (*systems, who(Role.ADMIN, None), who(Role.SPECIALIST, None)):
        with pytest.raises(Problem) as exc:
            access.staff_actor(caller)
        assert (exc.value.status, exc.value.code) == (403, "forbidden")
    for role in (Role.DESK_OFFICER, Role.SPECIALIST, Role.LEADER, Role.ADMIN):
        actor = access.staff_actor(who(role, WARD))
        assert (actor.unit, actor.role, actor.subject) == (WARD, role.value, f"{role.value}@{WARD}")


def test_a_unit_with_no_part_in_the_journey_is_told_nothing_of_it() -> None:
    j = Run.start(INTER3).journey
    for unit in (WARD, CITY_JUSTICE, PROVINCE_JUSTICE):  # the desk, and every unit on a step
        access.require_part(staff(unit), j.code, j.units)
    with pytest.raises(Problem) as exc:
        access.require_part(staff(WARD_B), j.code, j.units)
    assert (exc.value.status, exc.value.code) == (403, "not-holder")
    assert "holder_unit" not in exc.value.extensions


def test_only_the_holder_acts_and_only_the_addressee_answers() -> None:
    run = Run.start(INTER3)
    access.require_holder(run.journey, staff(WARD))
    with pytest.raises(Problem) as exc:
        access.require_holder(run.journey, staff(CITY_JUSTICE))
    assert (exc.value.status, exc.value.code, exc.value.extensions["holder_unit"]) == (403, "not-holder", WARD)
    run.apply(rules.complete(run.journey, staff(WARD), None, None, later(0.1)))
    hop = rules.pending_hop(run.journey, run.hop, staff(CITY_JUSTICE))
    access.require_hop_addressee(hop, staff(CITY_JUSTICE))
    for unit in (WARD, PROVINCE_JUSTICE):  # the sender holds the dossier, but does not answer its own hop
        with pytest.raises(Problem) as exc:
            access.require_hop_addressee(hop, staff(unit))
        assert (exc.value.status, exc.value.code) == (403, "not-addressee")


def test_who_reads_a_journey() -> None:
    j = Run.start(INTER3).journey  # the ward, the city's justice office and the province's on its route
    readers = {
        who(Role.ADMIN, None): True,
        who(Role.LEADER, PROVINCE): True,  # the subtree of the province holds every unit on the route
        who(Role.LEADER, CITY): True,
        who(Role.LEADER, WARD_B): False,  # a sibling ward's leader
        who(Role.SPECIALIST, CITY_JUSTICE): True,
        who(Role.DESK_OFFICER, WARD): True,
        who(Role.SPECIALIST, WARD_B): False,
        who(Role.SPECIALIST, CITY): False,  # only a leader reads below their unit
        who(Role.PORTAL, None): False,
        who(Role.WALLET, WARD): False,
        who(Role.INTEGRATION, WARD): False,
    }
    for caller, may in readers.items():
        assert access.reads_subtree(caller) is (caller.role is Role.LEADER)
        assert access.may_read(caller, j.units, PARENTS) is may, caller
        if not may:
            with pytest.raises(Problem) as exc:
                access.require_reader(caller, j, PARENTS)
            assert (exc.value.status, exc.value.code) == (403, "forbidden")


def test_who_reads_a_worklist() -> None:
    access.require_worklist_reader(who(Role.LEADER, CITY), WARD, PARENTS)
    access.require_worklist_reader(who(Role.DESK_OFFICER, WARD), WARD, PARENTS)
    for caller in (who(Role.DESK_OFFICER, WARD_B), who(Role.LEADER, WARD_B)):
        with pytest.raises(Problem) as exc:
            access.require_worklist_reader(caller, WARD, PARENTS)
        assert (exc.value.status, exc.value.code) == (403, "forbidden")

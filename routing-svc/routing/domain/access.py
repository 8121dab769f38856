"""Who may act on, and read, which journey.

- Acting: staff bound to a unit. A unit with no part in the journey (not receiving, holding, addressed, nor on a
  step) is refused before anything else and learns nothing of it, not even whether a hop exists; among the units
  with a part, only the holder acts on the dossier and only the addressed unit answers a hop.
- Reading a journey or a worklist: an administrator everything; a leader what touches their unit's subtree
  (`parents`: each unit's parent, as the catalogue replica has them); other staff what touches their own unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from routing.domain.model import Actor, Hop, Journey
from services.errors import Problem
from services.identity import Identity, Role
from services.policy import reaches


def staff_actor(who: Identity) -> Actor:
    """The caller as the actor of a command: staff bound to a unit."""
    if not who.is_staff or who.unit is None:
        raise Problem(403, "Only staff bound to a unit act on dossiers.", code="forbidden")
    return Actor.of(who)


def require_part(actor: Actor, code: str, units: set[str]) -> None:
    """The actor's unit takes part in the journey of dossier `code` (`units`: `Journey.units`)."""
    if actor.unit not in units:
        # Not the holder either; unlike the holder check, nothing about the journey is told.
        raise Problem(403, f"Unit {actor.unit} has no part in dossier {code}.", code="not-holder")


def require_holder(j: Journey, actor: Actor) -> None:
    if actor.unit != j.holder_unit:
        raise Problem(
            403,
            f"Dossier {j.code} is held by unit {j.holder_unit}; unit {actor.unit} may not act on it.",
            code="not-holder",
            holder_unit=j.holder_unit,
        )


def require_hop_addressee(hop: Hop, actor: Actor) -> None:
    if actor.unit != hop.to_unit:
        raise Problem(
            403,
            f"Hop {hop.id} is addressed to unit {hop.to_unit}; unit {actor.unit} may not answer it.",
            code="not-addressee",
        )


def reads_subtree(who: Identity) -> bool:
    """Whether what `who` may read depends on the unit tree (the shell then reads `parents` for `may_read`)."""
    return who.role is Role.LEADER


def may_read(who: Identity, units: Iterable[str | None], parents: Mapping[str, str | None]) -> bool:
    if who.role is Role.ADMIN:
        return True
    if who.role is Role.LEADER:
        return reaches(parents, who.unit, units)
    return who.is_staff and who.unit is not None and who.unit in set(units)


def require_reader(who: Identity, j: Journey, parents: Mapping[str, str | None]) -> None:
    if not may_read(who, j.units, parents):
        raise Problem(403, f"Unit {who.unit} has no part in dossier {j.code}.", code="forbidden")


def require_worklist_reader(who: Identity, unit: str, parents: Mapping[str, str | None]) -> None:
    if not may_read(who, {unit}, parents):
        raise Problem(403, f"Unit {who.unit} may not read the worklist of unit {unit}.", code="forbidden")

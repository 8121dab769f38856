"""Who may do what, written once: the unit-subtree rule every service applies (this module), and the table of every
public operation (`services.policy_table`)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping


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

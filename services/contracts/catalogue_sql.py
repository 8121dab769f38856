"""The catalogue's date rules of `services.contracts.catalogue` as SQL conditions, for the tables that copy a
version's or a unit's dates into columns (catalogue-svc's own, the replica's, stats'). Both are the same half-open
interval [from, to) with an open end when `to` is NULL."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


def _within(start: Any, end: Any, day: Any) -> ColumnElement[bool]:
    return and_(start <= day, or_(end.is_(None), end > day))


def in_force_on(effective_from: Any, effective_to: Any, day: date | Any) -> ColumnElement[bool]:
    """`ProcedureVersion.in_force_on` over a version's columns; `day` a date, a bound parameter or a column."""
    return _within(effective_from, effective_to, day)


def valid_on(valid_from: Any, valid_to: Any, day: date | Any) -> ColumnElement[bool]:
    """`UnitChanged.valid_on` over a unit's columns."""
    return _within(valid_from, valid_to, day)

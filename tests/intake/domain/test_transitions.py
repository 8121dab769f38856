"""The table of a dossier's statuses: where each may go, and that the closed ones go nowhere."""

from __future__ import annotations

import pytest
from intake.domain.dossier import CLOSED, NATIONAL_STATUS, TRANSITIONS, Status, can_move

ALLOWED = {
    (Status.SUPPLEMENT_REQUESTED, Status.RECEIVED),
    (Status.SUPPLEMENT_REQUESTED, Status.PROCESSING),
    (Status.SUPPLEMENT_REQUESTED, Status.REFUSED),
    (Status.SUPPLEMENT_REQUESTED, Status.WITHDRAWN),
    (Status.RECEIVED, Status.PROCESSING),
    (Status.RECEIVED, Status.SUPPLEMENT_REQUESTED),
    (Status.RECEIVED, Status.REFUSED),
    (Status.RECEIVED, Status.WITHDRAWN),
    (Status.PROCESSING, Status.SUPPLEMENT_REQUESTED),
    (Status.PROCESSING, Status.PROCESSED),
    (Status.PROCESSING, Status.WITHDRAWN),
    (Status.PROCESSED, Status.RESULT_RETURNED),
    (Status.PROCESSED, Status.WITHDRAWN),
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("new", list(Status))
def test_each_move_is_allowed_or_refused_as_the_table_says(current: Status, new: Status) -> None:
    assert can_move(current, new) is (current == new or (current, new) in ALLOWED)
    assert can_move(current.value, new) is can_move(current, new)  # the stored string reads the same


def test_closed_statuses_go_nowhere_and_every_status_has_a_row_and_a_national_code() -> None:
    assert CLOSED == {Status.REFUSED, Status.WITHDRAWN, Status.RESULT_RETURNED}
    assert all(TRANSITIONS[s] == frozenset() for s in CLOSED)
    assert set(TRANSITIONS) == set(Status) == set(NATIONAL_STATUS)
    assert len(set(NATIONAL_STATUS.values())) == len(Status)

"""The national status: the fold of the action log, and the moves it may make."""

from __future__ import annotations

import pytest
from routing.domain import status as st

from services.contracts.routing import NationalStatus

S = NationalStatus


@pytest.mark.parametrize(
    ("current", "action", "data", "expected"),
    [
        (None, st.RECEIVED, {}, S.NEW),
        (S.NEW, st.STEP_STARTED, {}, S.ACCEPTED),
        (S.NEW, st.HOP_ACCEPTED, {"kind": "forward"}, S.ACCEPTED),
        (S.ACCEPTED, st.HOP_ACCEPTED, {"kind": "forward"}, S.PROCESSING),
        (S.PROCESSED, st.HOP_ACCEPTED, {"kind": "return"}, S.PROCESSED),  # the result back at the desk
        (S.ACCEPTED, st.ASSIGNED, {}, S.PROCESSING),
        (S.ACCEPTED, st.STEP_COMPLETED, {}, S.PROCESSING),
        (S.PROCESSING, st.SUPPLEMENT_REQUESTED, {}, S.SUPPLEMENT_REQUESTED),
        (S.SUPPLEMENT_REQUESTED, st.RESUMED, {}, S.PROCESSING),
        (S.PROCESSING, st.PROCESSED, {}, S.PROCESSED),
        (S.PROCESSING, st.REFUSED, {}, S.REJECTED),
        (S.PROCESSED, st.RESULT_RETURNED, {}, S.RESULT_RETURNED),
        (S.PROCESSING, st.WITHDRAWN, {}, S.STOPPED),
        (S.PROCESSING, st.HOP_REQUESTED, {}, S.PROCESSING),
        (S.PROCESSING, st.HOP_REJECTED, {}, S.PROCESSING),
        (S.PROCESSING, st.EXTENDED, {}, S.PROCESSING),
        (S.PROCESSED, st.RESULT_AT_DESK, {}, S.PROCESSED),
        (S.STOPPED, st.RESUMED, {}, S.STOPPED),  # final
        (S.RESULT_RETURNED, st.WITHDRAWN, {}, S.RESULT_RETURNED),
    ],
)
def test_each_action_moves_the_status(
    current: NationalStatus | None, action: str, data: dict[str, str], expected: NationalStatus
) -> None:
    assert st.next_status(current, action, data) is expected


def test_the_allowed_moves() -> None:
    assert st.allowed(None, S.NEW) and not st.allowed(None, S.ACCEPTED)
    for status in st.TRANSITIONS:
        assert st.allowed(status, status)  # staying is always allowed
    assert st.allowed(S.NEW, S.ACCEPTED) and not st.allowed(S.NEW, S.PROCESSING)
    assert st.allowed(S.SUPPLEMENT_REQUESTED, S.PROCESSING) and not st.allowed(S.SUPPLEMENT_REQUESTED, S.PROCESSED)
    assert st.allowed(S.REJECTED, S.RESULT_RETURNED) and not st.allowed(S.PROCESSED, S.PROCESSING)
    for final in (S.STOPPED, S.RESULT_RETURNED):
        assert not any(st.allowed(final, other) for other in st.TRANSITIONS if other is not final)
    open_ = [s for s in st.TRANSITIONS if s not in (S.STOPPED, S.RESULT_RETURNED)]
    assert all(st.allowed(status, S.STOPPED) for status in open_)  # withdrawn from any open status


def test_the_status_is_the_fold_of_the_log() -> None:
    log = [(st.RECEIVED, {}), (st.STEP_STARTED, {}), (st.STEP_COMPLETED, {}), (st.HOP_REQUESTED, {}),
           (st.HOP_ACCEPTED, {"kind": "forward"}), (st.PROCESSED, {}), (st.RESULT_RETURNED, None)]  # fmt: skip
    assert st.derive_status(log) is S.RESULT_RETURNED
    assert st.derive_status(log[:2]) is S.ACCEPTED
    with pytest.raises(ValueError):
        st.derive_status([])
    assert set(st.ACTION_LABELS_VI) >= {a for a, _ in log}

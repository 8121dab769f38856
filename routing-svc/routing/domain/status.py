"""Status derived from the action log, mapped to the national portal's dossier status codes (1–10).

The log is the record; `journeys.status` is only this fold kept for lists. `derive_status(log)` recomputes it from
the actions alone, and `next_status` is the single step of that fold used when an action is appended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.contracts.routing import NationalStatus

# action names written to journey_actions.action
RECEIVED = "received"
HOP_REQUESTED = "hop_requested"
HOP_ACCEPTED = "hop_accepted"
HOP_REJECTED = "hop_rejected"
STEP_STARTED = "step_started"
ASSIGNED = "assigned"
STEP_COMPLETED = "step_completed"
SUPPLEMENT_REQUESTED = "supplement_requested"
RESUMED = "resumed"
EXTENDED = "extended"
PROCESSED = "processed"
REFUSED = "refused"
RESULT_AT_DESK = "result_at_desk"
RESULT_RETURNED = "result_returned"
WITHDRAWN = "withdrawn"
ROUTE_BLOCKED = "route_blocked"

ACTION_LABELS_VI = {
    RECEIVED: "Tiếp nhận hồ sơ",
    HOP_REQUESTED: "Chuyển hồ sơ",
    HOP_ACCEPTED: "Nhận hồ sơ",
    HOP_REJECTED: "Từ chối nhận hồ sơ",
    STEP_STARTED: "Bắt đầu xử lý",
    ASSIGNED: "Phân công xử lý",
    STEP_COMPLETED: "Hoàn thành bước xử lý",
    SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung hồ sơ",
    RESUMED: "Tiếp tục xử lý",
    EXTENDED: "Gia hạn (xin lỗi, hẹn lại)",
    PROCESSED: "Có kết quả giải quyết",
    REFUSED: "Từ chối giải quyết",
    RESULT_AT_DESK: "Kết quả chuyển về bộ phận một cửa",
    RESULT_RETURNED: "Trả kết quả",
    WITHDRAWN: "Rút hồ sơ",
    ROUTE_BLOCKED: "Cần chuyển lại (đơn vị trên quy trình không còn hoạt động)",
}

_TERMINAL = {NationalStatus.RESULT_RETURNED, NationalStatus.STOPPED}

S = NationalStatus
#: The moves of the national status a journey may make (besides staying where it is). Terminal: 8 and 10.
TRANSITIONS: dict[NationalStatus, frozenset[NationalStatus]] = {
    S.NEW: frozenset({S.ACCEPTED, S.REJECTED, S.STOPPED}),
    S.ACCEPTED: frozenset({S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.PROCESSED, S.REJECTED, S.STOPPED}),
    S.PROCESSING: frozenset({S.SUPPLEMENT_REQUESTED, S.PROCESSED, S.REJECTED, S.STOPPED}),
    S.SUPPLEMENT_REQUESTED: frozenset({S.PROCESSING, S.REJECTED, S.STOPPED}),
    S.PROCESSED: frozenset({S.RESULT_RETURNED, S.STOPPED}),
    S.REJECTED: frozenset({S.RESULT_RETURNED, S.STOPPED}),
    S.STOPPED: frozenset(),
    S.RESULT_RETURNED: frozenset(),
}


def allowed(current: NationalStatus | None, new: NationalStatus) -> bool:
    if current is None:
        return new is S.NEW
    return new == current or new in TRANSITIONS[current]


def next_status(current: NationalStatus | None, action: str, data: Mapping[str, Any] | None = None) -> NationalStatus:
    data = data or {}
    if current in _TERMINAL:
        return current  # type: ignore[return-value]
    if action == RECEIVED or current is None:
        return NationalStatus.NEW
    if action in (HOP_ACCEPTED, STEP_STARTED):
        if data.get("kind") == "return":
            return current
        return NationalStatus.ACCEPTED if current == NationalStatus.NEW else NationalStatus.PROCESSING
    if action in (ASSIGNED, STEP_COMPLETED, RESUMED):
        return NationalStatus.PROCESSING
    if action == SUPPLEMENT_REQUESTED:
        return NationalStatus.SUPPLEMENT_REQUESTED
    if action == PROCESSED:
        return NationalStatus.PROCESSED
    if action == REFUSED:
        return NationalStatus.REJECTED
    if action == RESULT_RETURNED:
        return NationalStatus.RESULT_RETURNED
    if action == WITHDRAWN:
        return NationalStatus.STOPPED
    return current  # hop requested / rejected, extension, result at desk: no change of the national status


def derive_status(log: Iterable[tuple[str, Mapping[str, Any] | None]]) -> NationalStatus:
    status: NationalStatus | None = None
    for action, data in log:
        status = next_status(status, action, data)
    if status is None:
        raise ValueError("an empty action log has no status")
    return status

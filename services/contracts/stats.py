"""What stats-svc's reports answer that others check against: the columns of form II.06a (dossiers per field of
procedures), in the form's order, with their Vietnamese headings. The simulator's ground truth and the tests build
their rows from these keys."""

from __future__ import annotations

#: The two columns that name a row's field.
II06A_FIELD_HEADERS: tuple[tuple[str, str], ...] = (("field_code", "Mã lĩnh vực"), ("field_name", "Lĩnh vực"))

#: The counted columns (row values and totals), in the form's order.
II06A_COUNT_HEADERS: tuple[tuple[str, str], ...] = (
    ("received_total", "Tiếp nhận: tổng số"),
    ("received_online", "Tiếp nhận: trực tuyến"),
    ("received_offline", "Tiếp nhận: trực tiếp, bưu chính"),
    ("carried_over", "Tiếp nhận: từ kỳ trước"),
    ("resolved", "Đã giải quyết: tổng số"),
    ("resolved_early", "Đã giải quyết: trước hạn"),
    ("resolved_on_time", "Đã giải quyết: đúng hạn"),
    ("resolved_late", "Đã giải quyết: quá hạn"),
    ("pending", "Đang giải quyết: tổng số"),
    ("pending_within", "Đang giải quyết: trong hạn"),
    ("pending_overdue", "Đang giải quyết: quá hạn"),
    ("closed", "Rút / từ chối sau tiếp nhận"),
)

II06A_HEADERS: tuple[tuple[str, str], ...] = (*II06A_FIELD_HEADERS, *II06A_COUNT_HEADERS)

II06A_KEYS: tuple[str, ...] = tuple(key for key, _ in II06A_COUNT_HEADERS)

#: The counts that are sums of others: received_total = online + offline + carried over; pending_within =
#: pending − overdue.
II06A_DERIVED = frozenset({"received_total", "pending_within"})

#: The counts a query takes from the facts, in the form's order.
II06A_COUNTED: tuple[str, ...] = tuple(key for key in II06A_KEYS if key not in II06A_DERIVED)

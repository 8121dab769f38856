"""The page a citizen's browser lands on after paying through VNPay (the return URL), in Vietnamese.

It reads, never writes: what VNPay's signed query string says, and what payment-svc has recorded so far (the IPN
may arrive a moment after the browser, or only the status query may find the payment).
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from payment.providers import Notification

#: nosniff, no-referrer and the printable pages' Content-Security-Policy come from the kernel's
#: SecurityHeadersMiddleware (services/headers.py), as for every page of every service.
HEADERS = {"Cache-Control": "no-store"}

_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
h1{{font-size:1.4rem}} .ok{{color:#146c2e}} .no{{color:#a4161a}} dt{{font-weight:600}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p>{details}</body></html>
"""


def _page(status: int, title: str, css: str, message: str, details: str = "") -> HTMLResponse:
    html = _PAGE.format(title=escape(title), css=css, message=escape(message), details=details)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _amount(vnd: int) -> str:
    return f"{vnd:,}".replace(",", ".") + " đồng"


def result(shown: Notification, recorded_status: str | None) -> HTMLResponse:
    """The result VNPay reports for the order, and whether the centre has recorded it yet."""
    details = (
        "<dl><dt>Mã giao dịch của Trung tâm</dt><dd>" + escape(shown.order_ref) + "</dd>"
        "<dt>Số tiền</dt><dd>" + escape(_amount(shown.amount)) + "</dd></dl>"
    )
    if shown.status != "paid":
        return _page(200, "Thanh toán chưa thành công", "no",
                     "Giao dịch chưa được thực hiện hoặc đã bị hủy. Bạn chưa bị trừ tiền; "
                     "có thể thanh toán lại từ trang hồ sơ.", details)
    if recorded_status in ("paid", "partially_refunded", "refunded"):
        message = "Trung tâm đã ghi nhận khoản thanh toán lệ phí của hồ sơ."
    else:
        message = ("VNPay báo giao dịch thành công. Trung tâm đang xác nhận khoản thanh toán; "
                   "trạng thái hồ sơ sẽ được cập nhật trong ít phút.")
    return _page(200, "Thanh toán thành công", "ok", message, details)


def refused() -> HTMLResponse:
    return _page(400, "Không xác thực được kết quả thanh toán", "no",
                 "Đường dẫn kết quả không hợp lệ hoặc đã bị thay đổi. Trạng thái thanh toán không thay đổi; "
                 "vui lòng xem lại trên trang hồ sơ hoặc liên hệ bộ phận một cửa.")

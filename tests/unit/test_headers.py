"""Content-Disposition for downloads: an ASCII name as is, a Vietnamese one in RFC 5987's UTF-8 form with an ASCII
fallback, and nothing that could break out of the header's quoting."""

from __future__ import annotations

from services.headers import content_disposition


def test_file_names_of_downloads() -> None:
    assert content_disposition("bao-cao.xlsx") == 'attachment; filename="bao-cao.xlsx"'
    assert content_disposition("vietqr-1.png", inline=True) == 'inline; filename="vietqr-1.png"'
    vietnamese = content_disposition("Tờ khai.pdf")
    assert vietnamese == "attachment; filename=\"T_ khai.pdf\"; filename*=UTF-8''T%E1%BB%9D%20khai.pdf"
    quoted = content_disposition('a"b;c\r\n.pdf')
    assert "\r" not in quoted and "\n" not in quoted
    assert quoted.startswith('attachment; filename="a_b_c__.pdf"; filename*=UTF-8\'\'a%22b%3Bc%0D%0A.pdf')

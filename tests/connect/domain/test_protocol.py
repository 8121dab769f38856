"""The portal's answers read (connect.domain.protocol): pure."""

from __future__ import annotations

import pytest
from connect.domain.delivery import Answer
from connect.domain.protocol import UnreadableAnswer, held_steps, read_call_answer, session_of

SENT = [{"MaHoSo": "A"}, {"MaHoSo": "B"}, {"MaHoSo": "C"}]


def test_sign_in() -> None:
    assert session_of({"session": "s1", "error_code": 0}) == "s1"
    for refused in ({"error_code": 1, "message": "Sai mật khẩu"}, {"session": "", "error_code": 0}, "<html>", None):
        with pytest.raises(UnreadableAnswer):
            session_of(refused)


def test_each_record_gets_its_own_answer() -> None:
    answer = read_call_answer(
        {
            "error_code": 0,
            "data": [
                {"MaHoSo": "B", "error_code": 3, "message": "MaTTHC: không tồn tại"},
                {"MaHoSo": "A", "error_code": 0, "message": "Thành công"},
                {"MaHoSo": "C", "error_code": 1, "message": "bận"},
            ],
        },
        SENT,
    )
    assert not answer.session_expired
    assert answer.records == (
        (Answer.ACCEPTED, "Thành công"),
        (Answer.REJECTED, "MaTTHC: không tồn tại"),
        (Answer.FAILED, "portal error 1: bận"),
    )


def test_a_record_the_answer_leaves_out_has_failed() -> None:
    answer = read_call_answer({"error_code": 0, "data": [{"MaHoSo": "A", "error_code": 0}]}, SENT[:2])
    assert [a for a, _ in answer.records] == [Answer.ACCEPTED, Answer.FAILED]


def test_an_expired_session_and_a_general_error() -> None:
    assert read_call_answer({"error_code": 2, "message": "Phiên làm việc hết hạn"}, SENT).session_expired
    failed = read_call_answer({"error_code": 1, "message": "lỗi"}, SENT)
    assert {a for a, _ in failed.records} == {Answer.FAILED} and len(failed.records) == 3


@pytest.mark.parametrize("body", [None, [], {"message": "no code"}, {"error_code": 0}, {"error_code": 0, "data": [1]}])
def test_an_answer_off_protocol_is_unreadable(body: object) -> None:
    with pytest.raises(UnreadableAnswer):
        read_call_answer(body, SENT)


def test_what_the_portal_holds() -> None:
    step = {"MaHoSo": "A", "TrangThai": 4}
    answer = {
        "error_code": 0,
        "data": [
            {"MaHoSo": "A", "error_code": 0, "HoSo": {}, "TienDo": [step]},
            {"MaHoSo": "B", "error_code": 3, "message": "không tìm thấy"},
        ],
    }
    assert held_steps(answer) == {"A": [step], "B": []}
    with pytest.raises(UnreadableAnswer):
        held_steps({"error_code": 0, "data": [{"MaHoSo": "A", "error_code": 0, "TienDo": "x"}]})

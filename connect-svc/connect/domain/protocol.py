"""The national portal's requests and answers, as plain data (no HTTP here).

Sign-in: `{"username", "password"}` with the unit's code in a header → `{"session": "…", "error_code": 0}`.
A call: `{"session", "madonvi", "service", "isUpdating", "data": [records]}` → `{"error_code": 0, "message",
"data": [{"MaHoSo", "error_code", "message"}]}`: one answer per record sent; `TraCuuHoSo` answers each dossier asked
about with what the portal holds (`HoSo`, the dossier record; `TienDo`, its steps). The codes (connect-svc/README.md):
0 done; `SESSION_EXPIRED` the session is not (or no longer) valid: sign in again and repeat the call;
`INVALID_RECORD` the record breaks the portal's rules (a record's answer); any other code: a failure to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connect.domain.delivery import Answer
from connect.domain.records import SERVICE_LOOKUP, F

OK = 0
SESSION_EXPIRED = 2
INVALID_RECORD = 3


class UnreadableAnswer(ValueError):
    """The portal answered something that is not its protocol: the attempt failed."""


def call_body(
    session: str, unit_code: str, service: str, is_updating: bool, records: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"session": session, "madonvi": unit_code, "service": service, "isUpdating": is_updating, "data": records}


def session_of(answer: Any) -> str:
    """The session of a sign-in answer; UnreadableAnswer when it holds none."""
    if not isinstance(answer, dict) or answer.get("error_code") != OK or not isinstance(answer.get("session"), str):
        raise UnreadableAnswer(f"sign-in refused or unreadable: {_short(answer)}")
    if not answer["session"]:
        raise UnreadableAnswer("sign-in answered an empty session")
    return str(answer["session"])


@dataclass(frozen=True)
class CallAnswer:
    session_expired: bool
    #: (answer, message) of each record sent, in the order sent.
    records: tuple[tuple[Answer, str], ...]


def read_call_answer(answer: Any, sent: list[dict[str, Any]]) -> CallAnswer:
    """Each record's fate from the portal's answer to a call that sent `sent`."""
    if not isinstance(answer, dict) or not isinstance(answer.get("error_code"), int):
        raise UnreadableAnswer(f"not the portal's answer: {_short(answer)}")
    code, message = answer["error_code"], str(answer.get("message") or "")
    if code == SESSION_EXPIRED:
        return CallAnswer(True, ())
    if code != OK:
        failed = f"portal error {code}: {message}"[:500]
        return CallAnswer(False, tuple((Answer.FAILED, failed) for _ in sent))
    results = answer.get("data")
    if not isinstance(results, list):
        raise UnreadableAnswer(f"the answer has no list of results: {_short(answer)}")
    by_code: dict[str, tuple[Answer, str]] = {}
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get(F.CODE), str):
            raise UnreadableAnswer(f"a result without {F.CODE}: {_short(result)}")
        result_code, text = result.get("error_code"), str(result.get("message") or "")
        if result_code == OK:
            by_code[result[F.CODE]] = (Answer.ACCEPTED, text or "ok")
        elif result_code == INVALID_RECORD:
            by_code[result[F.CODE]] = (Answer.REJECTED, text[:500] or "rejected as invalid")
        else:
            by_code[result[F.CODE]] = (Answer.FAILED, f"portal error {result_code}: {text}"[:500])
    missing = (Answer.FAILED, "the portal's answer left this record out")
    return CallAnswer(False, tuple(by_code.get(record[F.CODE], missing) for record in sent))


def _short(value: Any) -> str:
    return repr(value)[:200]


def held_steps(answer: Any) -> dict[str, list[dict[str, Any]]]:
    """A `TraCuuHoSo` answer: the steps the portal holds of each dossier asked about (none: it holds no dossier)."""
    if not isinstance(answer, dict) or answer.get("error_code") != OK or not isinstance(answer.get("data"), list):
        raise UnreadableAnswer(f"not the portal's answer to {SERVICE_LOOKUP}: {_short(answer)}")
    held: dict[str, list[dict[str, Any]]] = {}
    for result in answer["data"]:
        if not isinstance(result, dict) or not isinstance(result.get(F.CODE), str):
            raise UnreadableAnswer(f"a result without {F.CODE}: {_short(result)}")
        steps = result.get("TienDo") if result.get("error_code") == OK else []
        if not isinstance(steps, list):
            raise UnreadableAnswer(f"TienDo is not a list: {_short(result)}")
        held[result[F.CODE]] = [step for step in steps if isinstance(step, dict)]
    return held

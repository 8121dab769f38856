"""A submission judged: the terms (version in force, the unit's offer, the channel), the documents, completeness,
the code and its daily limit, and the new dossier's appointment (working days, calendar days, on the spot)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pytest
from intake.domain import submission as rules
from intake.domain.dossier import Decision, Status, appointment

from services.contracts.catalogue import ProcessingUnit, VersionStatus
from services.contracts.intake import Channel, DossierReceived, DossierSupplementRequested
from services.errors import Problem

from .factory import CALENDAR, MONDAY, OWNER_REF, WARD, desk, version, vn

DAY = date(2026, 3, 2)
FULL = rules.Offer(online_level="full", postal=True, unit_open=True)


def code_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(Problem) as caught:
        call()
    return caught.value.code


def test_terms_of_a_unit_that_offers_the_procedure() -> None:
    terms = rules.terms("1.001234", WARD, Channel.ONLINE, DAY, version(), FULL)
    assert terms.version.version == 2 and terms.offering.agency_id == WARD and terms.offering.postal


def test_terms_refused_for_each_reason() -> None:
    def judge(channel: Channel = Channel.IN_PERSON, v: object = None, offer: object = FULL) -> object:
        return lambda: rules.terms("1.001234", WARD, channel, DAY, v, offer)  # type: ignore[arg-type]

    assert code_of(judge(v=None)) == "unknown-procedure"
    assert code_of(judge(v=version(), offer=None)) == "unknown-procedure"
    assert code_of(judge(v=version(status=VersionStatus.ABOLISHED))) == "abolished-procedure"
    not_offered = rules.Offer(None, None, True)
    assert code_of(judge(v=version(), offer=not_offered)) == "unit-does-not-accept"
    closed = rules.Offer("full", True, False)  # merged away, or not yet created, on DAY
    assert code_of(judge(v=version(), offer=closed)) == "unit-does-not-accept"
    unknown_unit = rules.Offer("full", True, None)  # the replica does not know the unit: its offer decides
    assert rules.terms("1.001234", WARD, Channel.IN_PERSON, DAY, version(), unknown_unit).offering.agency_id == WARD
    offline = rules.Offer("none", True, True)
    assert code_of(judge(Channel.ONLINE, v=version(), offer=offline)) == "channel-not-offered"
    no_post = rules.Offer("full", False, True)
    assert code_of(judge(Channel.POSTAL, v=version(postal=False), offer=no_post)) == "channel-not-offered"
    # the procedure's own postal reception is enough
    assert rules.terms("1.001234", WARD, Channel.POSTAL, DAY, version(postal=True), no_post).offering.postal is False


@dataclass
class Doc:
    component_code: str
    name: str | None = None
    form: str = "original"
    copies: int = 1
    upload_id: str | None = None


@dataclass
class Upload:
    content_type: str = "application/pdf"
    size: int = 10
    sha256: str = "ab" * 32
    storage_key: str = "sha256/ab"


def test_documents_take_the_components_name_and_the_uploads_file() -> None:
    docs = rules.documents(
        version(), [Doc("TK", upload_id="u1"), Doc("GCS", name="Bản sao", form="copy")], {"u1": Upload()},
        Channel.IN_PERSON, MONDAY,
    )  # fmt: skip
    assert [(d.component_code, d.name, d.form, d.storage_key) for d in docs] == [
        ("TK", "Tờ khai", "original", "sha256/ab"),
        ("GCS", "Bản sao", "copy", None),
    ]
    online = rules.documents(version(), [Doc("TK", upload_id="u1")], {"u1": Upload()}, Channel.ONLINE, MONDAY)
    assert online[0].form == "electronic"


def test_every_bad_document_is_named_in_one_answer() -> None:
    given = [Doc("XX"), Doc("TK", upload_id="not-mine"), Doc("GCS")]
    with pytest.raises(Problem) as caught:
        rules.documents(version(), given, {}, Channel.ONLINE, MONDAY, loc="body.documents")
    assert caught.value.code == "invalid-documents"
    assert [e["loc"] for e in caught.value.extensions["errors"]] == [
        ["body", "documents", 0, "component_code"],
        ["body", "documents", 1, "upload_id"],
        ["body", "documents", 2, "upload_id"],  # online documents need their file
    ]


def test_missing_mandatory_components_reject_or_ask_for_a_supplement() -> None:
    only_tk = rules.documents(version(), [Doc("TK")], {}, Channel.IN_PERSON, MONDAY)
    assert code_of(lambda: rules.missing(version(), only_tk, "reject")) == "missing-documents"
    assert [c.code for c in rules.missing(version(), only_tk, "request_supplement")] == ["GCS"]
    both = rules.documents(version(), [Doc("TK"), Doc("GCS")], {}, Channel.IN_PERSON, MONDAY)
    assert rules.missing(version(), both, "reject") == []


def test_the_code_is_the_agency_the_business_day_and_four_digits() -> None:
    assert rules.format_code(WARD, date(2026, 3, 2), 7) == f"{WARD}-260302-0007"
    rules.check_sequence(WARD, DAY, rules.MAX_PER_DAY)
    assert code_of(lambda: rules.check_sequence(WARD, DAY, rules.MAX_PER_DAY + 1)) == "daily-sequence-exhausted"


def _new(absent: list[object], cal: object = CALENDAR, now: datetime = MONDAY) -> Decision:
    return rules.new_dossier(
        dossier_id="d-9", who=desk(), unit=WARD, seq=12, channel=Channel.POSTAL, version=version(),
        applicant=rules.Applicant("citizen", "046090001234", "An", "0905123456", None, "Huế", None),
        absent=absent, note="n", cal=cal, now=now, owner_ref=OWNER_REF,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_complete_submission_is_received_with_its_appointment_and_event() -> None:
    decision = _new([])
    d = decision.dossier
    assert (d.code, d.status, d.received_at, d.clock_started_at) == (f"{WARD}-260302-0012", Status.RECEIVED,
                                                                     MONDAY, MONDAY)  # fmt: skip
    assert d.appointment_at == vn(2026, 3, 6, 17)  # Tue 3, Thu 5, Fri 6 (Wed 4 off)
    assert isinstance(decision.event, DossierReceived) and decision.event.owner_ref == OWNER_REF
    assert [(f.code, f.amount) for f in d.fees] == [("LP1", 8000)]
    assert (decision.step.action, decision.step.actor, decision.step.unit) == ("received", "desk-1", WARD)


def test_the_code_and_the_business_date_are_hues_day_not_utcs() -> None:
    early = vn(2026, 3, 3, 6, 30)  # 23:30 UTC on the 2nd
    d = _new([], now=early).dossier
    assert (d.code, d.business_date) == (f"{WARD}-260303-0012", date(2026, 3, 3))


def test_an_incomplete_submission_waits_for_its_supplement_without_a_clock() -> None:
    absent = version().content.components[1:2]
    decision = _new(list(absent), cal=None)
    d = decision.dossier
    assert (d.status, d.received_at, d.appointment_at) == (Status.SUPPLEMENT_REQUESTED, None, None)
    assert [m.code for m in d.missing] == ["GCS"]
    assert d.supplement_reason == "Hồ sơ còn thiếu thành phần bắt buộc: Giấy chứng sinh."
    assert isinstance(decision.event, DossierSupplementRequested) and decision.event.before_receipt
    assert decision.step.note == d.supplement_reason


@pytest.mark.parametrize(
    ("received", "amount", "unit", "due"),
    [
        (vn(2026, 3, 2, 9), 3, ProcessingUnit.WORKING_DAYS, vn(2026, 3, 6, 17)),
        (vn(2026, 3, 2, 9), 4, ProcessingUnit.WORKING_DAYS, vn(2026, 3, 7, 17)),  # the made-up Saturday counts
        (vn(2026, 3, 2, 17, 30), 1, ProcessingUnit.WORKING_DAYS, vn(2026, 3, 5, 17)),  # after 17:00: from Tue 3
        (vn(2026, 3, 4, 9), 1, ProcessingUnit.WORKING_DAYS, vn(2026, 3, 6, 17)),  # a day off: from Thu 5
        (vn(2026, 3, 2, 9), 0, ProcessingUnit.ON_THE_SPOT, vn(2026, 3, 2, 17)),
        (vn(2026, 3, 2, 17, 30), 0, ProcessingUnit.ON_THE_SPOT, vn(2026, 3, 3, 17)),
        (vn(2026, 3, 2, 9), 2, ProcessingUnit.CALENDAR_DAYS, vn(2026, 3, 5, 17)),  # lands on Wed 4 (off): Thu 5
        (vn(2026, 3, 2, 9), 6, ProcessingUnit.CALENDAR_DAYS, vn(2026, 3, 9, 17)),  # lands on Sun 8: Mon 9
    ],
)
def test_the_appointment_for_each_kind_of_processing_time(received, amount, unit, due) -> None:  # type: ignore[no-untyped-def]
    assert appointment(CALENDAR, received, amount, unit.value) == due

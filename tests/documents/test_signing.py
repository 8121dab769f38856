"""PAdES signing and validation: the round trip, with and without a timestamp; every refusal of a PDF or a
certificate; altered and appended-to PDFs found out by the validator."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign import signers

from services.documents import demo_ca, signing
from services.documents.certificates import load_pem_certificates
from services.documents.errors import DocumentError
from services.documents.settings import DocumentSettings
from services.documents.signing import ResultSigner, sign_pdf
from services.documents.validation import Validator
from tests.documents.support import (
    CENTRE,
    CENTRE_NAME,
    JUSTICE,
    JUSTICE_NAME,
    PASSPHRASE,
    expired_signer,
    pkcs12,
    result_pdf,
    signer,
    timestamp_authority,
    validator,
)


async def refused(code: str, data: bytes, who: signing.UnitSigner, unit: str = CENTRE) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        await sign_pdf(data, who, unit)
    assert caught.value.code == code, caught.value
    return caught.value


async def test_a_signed_result_validates_with_its_unit_and_signing_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    signed = await sign_pdf(result_pdf(), signer(), CENTRE, reason="Kết quả giải quyết", location="Huế")
    assert signed.startswith(result_pdf()), "the signature is an incremental update"
    verdict = await validator().validate(signed, unit=CENTRE)
    assert verdict.valid, verdict
    assert (verdict.unit, verdict.holder, verdict.timestamped) == (CENTRE, CENTRE_NAME, False)
    assert verdict.signed_at is not None and before <= verdict.signed_at <= datetime.now(UTC)
    assert CENTRE in verdict.reason


async def test_a_timestamp_from_the_configured_tsa_is_carried_and_trusted() -> None:
    async with timestamp_authority() as url:
        signed = await sign_pdf(
            result_pdf(), signer(), CENTRE, stamper=signing.timestamper(DocumentSettings(tsa_url=url))
        )
    verdict = await validator().validate(signed)
    assert verdict.valid and verdict.timestamped, verdict


async def test_a_timestamp_from_an_authority_nobody_trusts_is_not_trusted() -> None:
    async with timestamp_authority(demo_ca.make_ca("unknown TSA CA")) as url:
        signed = await sign_pdf(
            result_pdf(), signer(), CENTRE, stamper=signing.timestamper(DocumentSettings(tsa_url=url))
        )
    verdict = await validator().validate(signed)
    assert verdict.code == "untrusted" and "timestamp" in verdict.reason, verdict


async def test_bytes_changed_after_signing_are_found() -> None:
    signed = bytearray(await sign_pdf(result_pdf(), signer(), CENTRE))
    inside_first_stream = signed.index(b"stream\n") + 20
    signed[inside_first_stream] ^= 0x01
    verdict = await validator().validate(bytes(signed))
    assert verdict.code == "altered", verdict


async def test_an_incremental_update_appended_after_signing_is_found() -> None:
    signed = await sign_pdf(result_pdf(), signer(), CENTRE)
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    appended = BytesIO()
    writer.write(appended)
    assert appended.getvalue().startswith(signed)
    verdict = await validator().validate(appended.getvalue())
    assert verdict.code == "modified-after-signing", verdict


async def test_another_units_signature_added_after_ours_is_found() -> None:
    ours = await sign_pdf(result_pdf(), signer(), CENTRE)
    justice = signer(JUSTICE, JUSTICE_NAME).signer
    countersigner = signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Other"), signer=justice)
    countersigned = BytesIO()
    await countersigner.async_sign_pdf(IncrementalPdfFileWriter(BytesIO(ours)), output=countersigned)
    verdict = await validator().validate(countersigned.getvalue())
    assert verdict.code == "wrong-unit" and CENTRE in verdict.reason and JUSTICE in verdict.reason, verdict


async def test_a_signature_from_another_ca_is_not_trusted() -> None:
    signed = await sign_pdf(result_pdf(), signer(), CENTRE)
    stranger = Validator(load_pem_certificates(demo_ca.make_ca("another CA").pem()))
    assert (await stranger.validate(signed)).code == "untrusted"


async def test_the_validator_names_the_wrong_unit_and_an_unsigned_pdf() -> None:
    signed = await sign_pdf(result_pdf(), signer(), CENTRE)
    assert (await validator().validate(signed, unit=JUSTICE)).code == "wrong-unit"
    assert (await validator().validate(result_pdf())).code == "unsigned"
    assert (await validator().validate(b"hello")).code == "not-a-pdf"


async def test_an_expired_or_not_yet_valid_certificate_is_refused() -> None:
    await refused("certificate-expired", result_pdf(), expired_signer())
    now = datetime.now(UTC)
    later = pkcs12(CENTRE, CENTRE_NAME, not_before=now + timedelta(days=3), not_after=now + timedelta(days=300))
    await refused("certificate-not-yet-valid", result_pdf(), signing.load_pkcs12(later, PASSPHRASE))


async def test_a_certificate_of_another_unit_is_refused() -> None:
    error = await refused("wrong-unit", result_pdf(), signer(JUSTICE, JUSTICE_NAME), unit=CENTRE)
    assert JUSTICE in error.detail and CENTRE in error.detail


def test_a_certificate_that_names_no_unit_or_a_wrong_passphrase_is_refused() -> None:
    with pytest.raises(DocumentError) as caught:
        signing.load_pkcs12(pkcs12(None, "Nobody"), PASSPHRASE)
    assert caught.value.code == "no-unit"
    with pytest.raises(DocumentError) as caught:
        signing.load_pkcs12(pkcs12(CENTRE, CENTRE_NAME), "not the passphrase")
    assert caught.value.code == "bad-keystore"


async def test_input_that_is_not_a_pdf_is_refused() -> None:
    await refused("not-a-pdf", b"GIF89a not a pdf at all", signer())
    await refused("not-a-pdf", b"%PDF-1.7\n garbage without objects or trailer", signer())


async def test_an_encrypted_pdf_is_refused() -> None:
    writer = copy_into_new_writer(PdfFileReader(BytesIO(result_pdf())))
    writer.encrypt("owner", "user")
    encrypted = BytesIO()
    writer.write(encrypted)
    await refused("encrypted-pdf", encrypted.getvalue(), signer())


async def test_a_pdf_signed_by_another_unit_is_refused_by_its_own_unit_signed_again() -> None:
    by_justice = await sign_pdf(result_pdf(), signer(JUSTICE, JUSTICE_NAME), JUSTICE)
    error = await refused("signed-by-another", by_justice, signer())
    assert JUSTICE_NAME in error.detail
    twice = await sign_pdf(by_justice, signer(JUSTICE, JUSTICE_NAME), JUSTICE)
    verdict = await validator().validate(twice, unit=JUSTICE)
    assert verdict.valid, verdict


async def test_the_keystore_signs_for_each_unit_from_the_demo_folder(tmp_path: Path) -> None:
    demo_ca.write_demo(tmp_path, {CENTRE: CENTRE_NAME, JUSTICE: JUSTICE_NAME}, PASSPHRASE)
    settings = DocumentSettings(keystore_dir=tmp_path, keystore_passphrase=PASSPHRASE, trust_roots=tmp_path / "ca.pem")
    signed = await ResultSigner(settings).sign(result_pdf(), JUSTICE)
    verdict = await Validator.from_settings(settings).validate(signed, unit=JUSTICE)
    assert verdict.valid and verdict.holder == JUSTICE_NAME, verdict
    assert (await validator().validate(signed)).code == "untrusted", "the demo folder's CA is its own"
    with pytest.raises(DocumentError) as caught:
        await ResultSigner(settings).sign(result_pdf(), "002.00.00.H57")
    assert caught.value.code == "no-signing-key"


def test_the_demo_tool_writes_the_ca_and_a_keystore_per_unit(tmp_path: Path) -> None:
    demo_ca.main([str(tmp_path), "--passphrase", "p", "--unit", f"{CENTRE}={CENTRE_NAME}", "--unit", JUSTICE])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ca.pem", f"{CENTRE}.p12", f"{JUSTICE}.p12"])
    loaded = signing.load_pkcs12((tmp_path / f"{CENTRE}.p12").read_bytes(), "p")
    assert (loaded.unit, loaded.holder) == (CENTRE, CENTRE_NAME)


async def test_a_timestamp_authority_that_does_not_answer_is_a_refusal_with_nothing_signed() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    stamper = signing.timestamper(DocumentSettings(tsa_url=f"http://127.0.0.1:{port}/tsa"))
    with pytest.raises(DocumentError) as caught:
        await sign_pdf(result_pdf(), signer(), CENTRE, stamper=stamper)
    assert caught.value.code == "timestamp-unavailable" and str(port) in caught.value.detail

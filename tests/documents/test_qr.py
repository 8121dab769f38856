"""The verification link: what is encoded reads back; an edited code or hash, another site, a malformed link are
refused without a database; a rotated secret still reads the links printed before."""

from __future__ import annotations

import hashlib

import pytest

from services.documents import qr
from services.documents.errors import DocumentError
from services.documents.settings import DocumentSettings

CODE = "000.00.31.H57-261204-0001"
SHA = hashlib.sha256(b"Giay khai sinh").hexdigest()
SETTINGS = DocumentSettings(verify_base_url="https://motcua.example.vn/xac-thuc/", qr_secret="bí mật một")


def refusal(url: str, settings: DocumentSettings = SETTINGS) -> str:
    with pytest.raises(DocumentError) as caught:
        qr.read_link(url, settings)
    return caught.value.code


def test_a_link_reads_back_its_code_and_hash() -> None:
    made = qr.link(CODE, SHA, SETTINGS)
    assert made.url.startswith(f"https://motcua.example.vn/xac-thuc/{CODE}/")
    assert qr.read_link(made.url, SETTINGS) == made
    assert (made.code, made.sha256) == (CODE, SHA)


def test_an_edited_code_or_hash_is_a_forged_link() -> None:
    url = qr.link(CODE, SHA, SETTINGS).url
    other_code = url.replace(CODE, "000.00.31.H57-261204-0002")
    digest_at = url.rindex("/") + 1
    other_hash = url[:digest_at] + ("B" if url[digest_at] == "A" else "A") + url[digest_at + 1 :]
    another_documents_hash = qr.link(CODE, hashlib.sha256(b"other").hexdigest(), SETTINGS).url.rsplit(".", 1)[0]
    spliced = another_documents_hash + "." + url.rsplit(".", 1)[1]
    for forged in (other_code, other_hash, spliced):
        assert refusal(forged) == "forged-link", forged


def test_a_link_of_another_secret_another_site_or_malformed_is_refused() -> None:
    elsewhere = DocumentSettings(verify_base_url="https://motcua.example.vn/xac-thuc", qr_secret="another")
    assert refusal(qr.link(CODE, SHA, elsewhere).url) == "forged-link"
    assert refusal(f"https://fake.example/xac-thuc/{CODE}/x.y") == "foreign-link"
    assert refusal(f"https://motcua.example.vn/xac-thuc/{CODE}/short.tag") == "malformed-link"
    assert refusal(f"https://motcua.example.vn/xac-thuc/{CODE}") == "malformed-link"


def test_the_previous_secret_still_reads_the_links_printed_before_a_rotation() -> None:
    printed = qr.link(CODE, SHA, SETTINGS).url
    rotated = DocumentSettings(
        verify_base_url=SETTINGS.verify_base_url, qr_secret="bí mật hai", qr_secret_previous="bí mật một"
    )
    assert qr.read_link(printed, rotated).sha256 == SHA
    assert qr.read_link(qr.link(CODE, SHA, rotated).url, rotated).code == CODE


def test_a_link_is_only_made_of_a_dossier_code_and_a_sha256() -> None:
    for code, sha in [("000/../x", SHA), ("", SHA), (CODE, "abc"), (CODE, "z" * 64)]:
        with pytest.raises(DocumentError):
            qr.link(code, sha, SETTINGS)


def test_the_development_secret_is_refused_outside_development_mode() -> None:
    DocumentSettings().require_real_secrets(dev_mode=True)
    SETTINGS.require_real_secrets(dev_mode=False)
    with pytest.raises(RuntimeError, match="MOTCUA_DOCUMENTS_QR_SECRET"):
        DocumentSettings().require_real_secrets(dev_mode=False)


def test_the_verification_page_is_an_absolute_web_address() -> None:
    for wrong in ("motcua.example.vn/xac-thuc", "ftp://motcua.example.vn", "https://motcua.example.vn/?q=1"):
        with pytest.raises(ValueError, match="http"):
            DocumentSettings(verify_base_url=wrong)

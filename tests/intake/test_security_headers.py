"""What a browser gets from intake: no type sniffing anywhere, a Content-Security-Policy on the printable forms, and
uploaded documents only ever as downloads."""

from __future__ import annotations

from pathlib import Path

from services.headers import DOCUMENT_CSP
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import WARD, intake_env, submission

#: An upload that a browser would run as a page if it were shown inline or sniffed.
HTML_AS_PDF = b"%PDF-1.4\n<html><script>alert(document.cookie)</script></html>\n" + b"0" * 200


async def test_forms_carry_a_policy_and_documents_are_downloads(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c = env.client
        r = await c.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 201, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        in_person = r.json()
        page = await c.get(f"/dossiers/{in_person['id']}/forms/01", headers=env.desk())
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == DOCUMENT_CSP
        assert "script-src" not in DOCUMENT_CSP and "default-src 'none'" in DOCUMENT_CSP
        assert page.headers["x-content-type-options"] == "nosniff"

        uploads = {}
        for comp in ("TK", "GCS"):
            up = await c.post("/uploads", files={"file": (f"{comp} tờ khai.pdf", HTML_AS_PDF, "application/pdf")},
                              headers=env.portal())  # fmt: skip
            assert up.status_code == 201, up.text
            uploads[comp] = up.json()["id"]
        body = submission(channel="online", uploads=uploads, receiving_unit=WARD)
        submitted = await c.post("/dossiers", json=body, headers=env.portal())
        assert submitted.status_code == 201, submitted.text
        online = submitted.json()
        content = await c.get(f"/dossiers/{online['id']}/documents/1/content", headers=env.portal())
        assert content.status_code == 200 and content.content == HTML_AS_PDF
        assert content.headers["content-disposition"] == f'attachment; filename="{online["id"]}-1-TK.pdf"'
        assert content.headers["x-content-type-options"] == "nosniff"

        missing = await c.get(f"/dossiers/{online['id']}/documents/9/content", headers=env.portal())
        assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"

"""Uploads belong to whoever made them (through the portal's one key: the citizen it acted for), and intake names
a dossier's owner to the other services only pseudonymously (intake-svc on the real broker and database)."""

from __future__ import annotations

from pathlib import Path

from services import policy
from services.topics import INTAKE_DOSSIERS
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import CITIZEN_ID, WARD, intake_env, read_events, submission

PDF = b"%PDF-1.4\n% test document\n" + b"0" * 200
CITIZEN_B = "046095000123"


async def test_a_citizen_files_only_their_own_uploads(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        c = env.client
        uploads = {}
        for comp in ("TK", "GCS"):
            up = await c.post("/uploads", files={"file": (f"{comp}.pdf", PDF, "application/pdf")},
                              headers=env.portal(CITIZEN_ID))
            assert up.status_code == 201, up.text
            uploads[comp] = up.json()["id"]

        # Citizen B, through the same portal key, names A's uploads in a dossier of their own.
        body = submission(channel="online", uploads=uploads, receiving_unit=WARD)
        body["applicant"] = {**body["applicant"], "id_number": CITIZEN_B, "account_id": None}
        stolen = await c.post("/dossiers", json=body, headers=env.portal(CITIZEN_B, account=None))
        assert stolen.status_code == 422, stolen.text
        assert stolen.headers["content-type"] == "application/problem+json"
        errors = stolen.json()["errors"]
        assert [e["loc"][-1] for e in errors] == ["upload_id", "upload_id"]
        assert all(f"no upload {uploads[code]} of yours" == e["msg"] for e, code in zip(errors, ("TK", "GCS"),
                                                                                       strict=True))
        # A desk officer does not reach them either.
        desk_body = {**submission(uploads=uploads)}
        assert (await c.post("/dossiers", json=desk_body, headers=env.desk())).status_code == 422

        own = await c.post("/dossiers", json=submission(channel="online", uploads=uploads, receiving_unit=WARD),
                           headers=env.portal(CITIZEN_ID))
        assert own.status_code == 201, own.text

        # The portal uploads only for a citizen.
        anonymous = await c.post("/uploads", files={"file": ("x.pdf", PDF, "application/pdf")},
                                 headers=env.token_for_role("portal", unit=None))
        assert anonymous.status_code == 403


async def test_dossier_received_names_its_owner_pseudonymously(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    async with intake_env(databases, broker, topic_prefix, tmp_path) as env:
        r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
        assert r.status_code == 201, r.text
        events = await read_events(broker.bootstrap, INTAKE_DOSSIERS.full_name(topic_prefix), 1)
        raw, received = next((raw, e) for raw, e in events if e.type.endswith(".received.v1"))
        assert received.data is not None
        secret = env.settings.owner_ref_secret.get_secret_value()
        assert received.data["owner_ref"] == policy.owner_ref(secret, CITIZEN_ID)
        assert received.data["owner_ref"] != policy.owner_ref(secret, CITIZEN_B)
        assert CITIZEN_ID.encode() not in raw  # the general topic carries no id number

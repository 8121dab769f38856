"""Document contents on S3-compatible storage: a real S3-protocol server over HTTP (moto's server, a subprocess)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from intake.models import Upload
from intake.storage import content_key
from sqlalchemy import func, select

from services.db import Database
from tests.conftest import Broker, DatabaseFactory
from tests.intake.support import Env, intake_env, submission

PDF = "%PDF-1.4\n% tờ khai\n".encode() + b"1" * 300
PDF2 = "%PDF-1.7\n% giấy chứng sinh\n".encode() + b"2" * 500
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class MotoS3:
    """`moto_server` on a fixed port, so that it can be stopped and started again at the same address."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = Path(sys.executable).parent / "moto_server"
        self.process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                assert self.process.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def new_bucket(self, name: str | None = None) -> str:
        name = name or f"motcua-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def s3_settings(s3: MotoS3, bucket: str) -> dict[str, Any]:
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": s3.url,
        "s3_bucket": bucket,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }


async def upload(env: Env, name: str, data: bytes, content_type: str) -> Any:
    return await env.client.post("/uploads", files={"file": (name, data, content_type)}, headers=env.portal())


async def upload_count(env: Env) -> int:
    db = Database(env.url)
    try:
        async with db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(Upload)) or 0)
    finally:
        await db.dispose()


async def test_uploads_are_stored_in_the_bucket_and_read_back_with_limits(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path, s3: MotoS3
) -> None:
    bucket = s3.new_bucket()
    async with intake_env(databases, broker, topic_prefix, tmp_path, **s3_settings(s3, bucket)) as env:
        uploads = {}
        for component, data in (("TK", PDF), ("GCS", PDF2)):
            r = await upload(env, f"{component}.pdf", data, "application/pdf")
            assert r.status_code == 201, r.text
            uploads[component] = r.json()["id"]
            key = content_key(r.json()["sha256"])
            stored = s3.client().get_object(Bucket=bucket, Key=key)
            assert stored["Body"].read() == data and stored["ContentType"] == "application/pdf"
        assert len(s3.keys(bucket)) == 2
        assert not (tmp_path / "files").exists()  # nothing went to the local directory

        # the same bytes again: the same object (content-addressed)
        assert (await upload(env, "copy.pdf", PDF, "application/pdf")).status_code == 201
        assert len(s3.keys(bucket)) == 2

        body = submission(channel="online", uploads=uploads, receiving_unit="000.00.31.H57")
        r = await env.client.post("/dossiers", json=body, headers=env.portal())
        assert r.status_code == 201, r.text
        dossier = r.json()
        for index, data in ((1, PDF), (2, PDF2)):
            got = await env.client.get(f"/dossiers/{dossier['id']}/documents/{index}/content", headers=env.portal())
            assert got.status_code == 200 and got.content == data
            assert got.headers["content-type"] == "application/pdf"

        # limits are checked before anything is sent to the store
        too_big = b"%PDF-1.4\n" + b"x" * (env.settings.max_file_bytes + 1)
        r = await upload(env, "big.pdf", too_big, "application/pdf")
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        r = await upload(env, "fake.png", PDF, "image/png")  # the bytes are not a PNG
        assert r.status_code == 415 and r.json()["type"].endswith("unsupported-file-type")
        r = await upload(env, "notes.txt", b"hello", "text/plain")
        assert r.status_code == 415
        r = await upload(env, "empty.pdf", b"", "application/pdf")
        assert r.status_code == 422
        assert len(s3.keys(bucket)) == 2 and await upload_count(env) == 3

        r = await upload(env, "photo.png", PNG, "image/png")
        assert r.status_code == 201 and len(s3.keys(bucket)) == 3


async def test_an_unreachable_store_is_a_503_and_nothing_is_half_stored(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str, tmp_path: Path, s3: MotoS3
) -> None:
    bucket = s3.new_bucket()
    async with intake_env(databases, broker, topic_prefix, tmp_path, **s3_settings(s3, bucket)) as env:
        uploads = {}
        for component, data in (("TK", PDF), ("GCS", PDF2)):
            r = await upload(env, f"{component}.pdf", data, "application/pdf")
            assert r.status_code == 201, r.text
            uploads[component] = r.json()["id"]
        body = submission(channel="online", uploads=uploads, receiving_unit="000.00.31.H57")
        dossier = (await env.client.post("/dossiers", json=body, headers=env.portal())).json()

        s3.stop()
        try:
            r = await upload(env, "TK2.pdf", PDF + b"more", "application/pdf")
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"]
            problem = r.json()
            assert problem["type"].endswith("storage-unavailable") and "not stored" in problem["detail"]
            assert await upload_count(env) == 2  # no upload row for content that was not stored

            r = await env.client.get(f"/dossiers/{dossier['id']}/documents/1/content", headers=env.portal())
            assert r.status_code == 503 and r.json()["type"].endswith("storage-unavailable")

            # the desk keeps receiving paper dossiers: they do not need the store
            r = await env.client.post("/dossiers", json=submission(), headers=env.desk())
            assert r.status_code == 201, r.text
        finally:
            s3.start()

        # the store is back (empty: moto keeps its state in memory): uploads work again without a restart
        s3.new_bucket(bucket)
        r = await upload(env, "TK2.pdf", PDF + b"more", "application/pdf")
        assert r.status_code == 201, r.text
        assert len(s3.keys(bucket)) == 1 and await upload_count(env) == 3

"""Where document contents live: the local disk by default, S3-compatible object storage when configured.

Keys are content addresses (``sha256/ab/cd/abcd…``): storing the same bytes twice is harmless, and a file written
by a request that then failed is an orphan that nothing references (never a half-stored dossier).

`S3Storage` uses boto3 (path-style requests, so MinIO, Ceph RGW or a cloud bucket all work), its blocking calls in
a worker thread. Either store raises `StorageUnavailable` when it cannot be reached or refuses; the API answers 503.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from intake.settings import Settings


class StorageUnavailable(Exception):
    """The document store could not be reached or did not store / return the content."""


class FileStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...


def content_key(sha256_hex: str) -> str:
    return f"sha256/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


class LocalStorage:
    def __init__(self, directory: str | Path) -> None:
        self.root = Path(directory)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the storage directory: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await asyncio.to_thread(self._write, self._path(key), data)
        except OSError as exc:
            raise StorageUnavailable(f"local storage: {exc.strerror or exc}") from exc

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists() and path.stat().st_size == len(data):
            return  # content-addressed: already there
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: readers never see a partial file

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except OSError as exc:
            raise StorageUnavailable(f"local storage: {exc.strerror or exc}") from exc


class S3Storage:
    """Objects in one bucket of an S3-compatible store. An object is written whole or not at all (a single PUT)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        region: str,
        access_key: str,
        secret_key: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.bucket = bucket
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "max_attempts": 3},
                # Checksums only where S3 requires them: many S3-compatible servers reject the newer defaults.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await asyncio.to_thread(
                self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 bucket {self.bucket}: {_reason(exc)}") from exc

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._read, key)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"S3 bucket {self.bucket}: {_reason(exc)}") from exc

    def _read(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data


def _reason(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')} ({exc.operation_name})"
    return type(exc).__name__


def build_storage(settings: Settings) -> FileStorage:
    if settings.storage_backend == "s3":
        if not (settings.s3_endpoint_url and settings.s3_access_key_id and settings.s3_secret_access_key):
            raise ValueError("INTAKE_STORAGE_BACKEND=s3 needs INTAKE_S3_ENDPOINT_URL and the access keys")
        return S3Storage(
            settings.s3_endpoint_url,
            settings.s3_bucket,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
    if settings.storage_backend != "local":
        raise ValueError(f"unknown storage backend {settings.storage_backend!r} (local | s3)")
    return LocalStorage(settings.storage_dir)


# Magic numbers of the accepted types: the declared content type must match the bytes.
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def sniff_matches(content_type: str, data: bytes) -> bool:
    prefixes = _MAGIC.get(content_type)
    return prefixes is None or any(data.startswith(p) for p in prefixes)

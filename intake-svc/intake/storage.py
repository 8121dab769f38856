"""Where document contents live: the local disk by default, S3-compatible object storage when configured.

Keys are content addresses (``sha256/ab/cd/abcd…``): storing the same bytes twice is harmless, and a file written
by a request that then failed is an orphan that nothing references (never a half-stored dossier).

`S3Storage` speaks the S3 REST API (PUT/GET object, AWS Signature Version 4) with httpx, so that MinIO, Ceph RGW or
a cloud bucket work without another dependency. No S3 server is available in this environment: it is configuration
only and untested here; the local implementation is what the tests exercise.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from intake.settings import Settings


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
        await asyncio.to_thread(self._write, self._path(key), data)

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
        return await asyncio.to_thread(self._path(key).read_bytes)


class S3Storage:
    """Path-style S3 requests signed with AWS Signature Version 4."""

    def __init__(self, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.client = httpx.AsyncClient(timeout=30)

    def _signed_headers(self, method: str, url: str, payload_hash: str, extra: dict[str, str]) -> dict[str, str]:
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        parts = urlsplit(url)
        headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date, **extra}
        names = sorted(h.lower() for h in headers)
        lower = {k.lower(): v.strip() for k, v in headers.items()}
        canonical = "\n".join(
            [
                method,
                quote(parts.path or "/", safe="/-_.~"),
                parts.query,
                "".join(f"{n}:{lower[n]}\n" for n in names),
                ";".join(names),
                payload_hash,
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        headers.pop("host")
        return headers

    def _url(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{quote(key, safe='/-_.~')}"

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        url = self._url(key)
        headers = self._signed_headers("PUT", url, hashlib.sha256(data).hexdigest(), {"content-type": content_type})
        response = await self.client.put(url, content=data, headers=headers)
        response.raise_for_status()

    async def get(self, key: str) -> bytes:
        url = self._url(key)
        headers = self._signed_headers("GET", url, hashlib.sha256(b"").hexdigest(), {})
        response = await self.client.get(url, headers=headers)
        response.raise_for_status()
        return response.content


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

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    """Environment variables start with ``INTAKE_`` (shared ones may use ``MOTCUA_``)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")
    service_name: ClassVar[str] = "intake"

    database_url: str = "sqlite+aiosqlite:///var/intake.db"
    #: Submissions are the hot path: no ping round trips (closed connections are still replaced, `services.db`).
    db_pool_pre_ping: bool = False

    #: Where document contents go: "local" (a directory on this host) or "s3" (S3-compatible object storage).
    storage_backend: str = "local"
    storage_dir: str = "var/intake-files"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "motcua-intake"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    #: Limits of one uploaded document.
    max_file_bytes: int = 10 * 1024 * 1024
    allowed_content_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png")

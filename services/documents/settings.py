"""Settings of electronic documents, shared by every service that issues or verifies them (`MOTCUA_DOCUMENTS_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.settings import DevelopmentSecretError

ENV_PREFIX = "MOTCUA_DOCUMENTS_"
_DEV_QR_SECRET = "motcua-dev-qr-secret-change-me-0123456789"


class DocumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    #: The public verification page's address; a QR code's link is `<this>/<dossier code>/<hash>.<tag>`.
    verify_base_url: str = "http://127.0.0.1:8000/xac-thuc"
    #: Keys the tag of every QR link (HMAC-SHA256), so that a link whose code or hash was edited is refused before
    #: anything is looked up. Changing it invalidates the QR codes printed before, unless the old value is kept in
    #: `qr_secret_previous` meanwhile.
    qr_secret: SecretStr = SecretStr(_DEV_QR_SECRET)
    qr_secret_previous: SecretStr | None = None
    #: A folder holding one PKCS#12 file per issuing unit, named `<agency id>.p12` (certificate, key and chain).
    keystore_dir: Path | None = None
    keystore_passphrase: SecretStr = SecretStr("")
    #: A PEM file of the CA certificates a signature (and a timestamp) must chain to.
    trust_roots: Path | None = None
    #: An RFC 3161 timestamp authority; when set, every signature carries its timestamp.
    tsa_url: str | None = None

    @field_validator("verify_base_url")
    @classmethod
    def _an_absolute_web_address(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("the verification page's address is an http(s) URL without query or fragment")
        return value.rstrip("/")

    def require_real_secrets(self, *, dev_mode: bool) -> None:
        """Refuses the public development QR secret outside development mode (a service calls it at start-up with
        its own `dev_mode`)."""
        if not dev_mode and self.qr_secret.get_secret_value() == _DEV_QR_SECRET:
            raise DevelopmentSecretError(
                f"the documents' QR secret is the public development value: set {ENV_PREFIX}QR_SECRET"
            )

"""Gateway settings: environment variables start with ``GATEWAY_`` (shared ones may use ``MOTCUA_``)."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from pydantic import SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings

#: The providers whose callbacks the gateway takes (gateway/callbacks.py).
CALLBACK_PROVIDERS = frozenset({"payos", "vnpay", "momo", "zalopay"})


class Settings(ServiceSettings):
    """Environment variables start with ``GATEWAY_`` (shared ones may use ``MOTCUA_``)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")
    service_name: ClassVar[str] = "gateway"

    #: API keys, staff accounts and login attempts live here.
    database_url: str = "sqlite+aiosqlite:///var/gateway.db"
    # The gateway publishes no events and consumes none.
    relay_enabled: bool = False
    consumers_enabled: bool = False

    # --- upstream services -------------------------------------------------------------------------------------
    catalogue_url: str = "http://127.0.0.1:8101"
    intake_url: str = "http://127.0.0.1:8102"
    routing_url: str = "http://127.0.0.1:8103"
    payment_url: str = "http://127.0.0.1:8104"
    stats_url: str = "http://127.0.0.1:8105"
    #: connect-svc (the deliveries to the national portal, /api/v1/deliveries); unset: that family is not routed.
    connect_url: str | None = None
    #: True: /api/v1/catalogue/procedures reaches catalogue-svc at /procedures. False: the path is forwarded as is.
    strip_prefix: bool = True
    connect_timeout: float = 2.0
    #: Longest wait for an upstream's answer (then 504).
    upstream_timeout: float = 30.0
    #: Extra attempts after a connection failure, for idempotent requests only (GET, HEAD, OPTIONS, PUT, DELETE,
    #: and any request carrying an Idempotency-Key).
    upstream_retries: int = 2
    #: Connections to all services together (aiohttp TCPConnector limit); idle ones are kept 30 s.
    upstream_max_connections: int = 200
    #: Not used since the switch to aiohttp (it has no separate cap on idle connections); kept so that existing
    #: environments still load.
    upstream_max_keepalive: int = 100
    #: Retry-After (seconds) sent with 503 when a service is down.
    retry_after_seconds: int = 5
    #: /readyz asks every service's /readyz at once and waits this long for each.
    readyz_timeout: float = 2.0

    # --- authentication ----------------------------------------------------------------------------------------
    #: Signs the staff access tokens (JWT, HS256). Every real deployment sets GATEWAY_JWT_SECRET.
    jwt_secret: SecretStr = SecretStr("motcua-dev-staff-jwt-secret-change-me-0123456789")
    #: During a rotation: the signing secret being replaced, still accepted so that staff need not sign in again.
    jwt_secret_previous: SecretStr | None = None
    jwt_ttl_seconds: int = 900
    #: Key of the keyed SHA-256 (HMAC) that API keys are stored under. Every real deployment sets it.
    api_key_pepper: SecretStr = SecretStr("motcua-dev-api-key-pepper-change-me-0123456789")
    #: How long a verified API key record is kept in memory; a revocation reaches every replica within this time.
    api_key_cache_seconds: float = 5.0
    #: How long a staff account (active? token generation?) is kept in memory to check access tokens against: a
    #: deactivation or password change made through another replica (or the command line) reaches this one within
    #: this time; through this replica, at once.
    staff_account_cache_seconds: float = 5.0
    #: Lifetime of the internal identity token forwarded to the services.
    internal_token_ttl: int = 60
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 50
    login_window_seconds: int = 900

    # --- limits and hygiene ------------------------------------------------------------------------------------
    #: `limits` storage: memory:// for one replica, redis://host:6379 (or redis+sentinel://, valkey://) for several.
    rate_limit_storage_uri: str = "memory://"
    rate_limit_staff: str = "600/minute"
    rate_limit_portal: str = "6000/minute"
    rate_limit_wallet: str = "1200/minute"
    rate_limit_integration: str = "600/minute"
    #: Per client IP: login attempts, and requests that fail authentication.
    rate_limit_login: str = "30/minute"
    rate_limit_unauthenticated: str = "120/minute"
    max_body_bytes: int = 20 * 1024 * 1024

    # --- payment providers' callbacks (gateway/callbacks.py) -------------------------------------------------
    #: Per provider, an unguessable path segment: the callback URL becomes /api/v1/callbacks/<provider>/<token>
    #: (JSON object in the environment, e.g. {"vnpay": "…"}). None set: /api/v1/callbacks/<provider>.
    callback_path_tokens: dict[str, SecretStr] = {}
    #: Per provider, the networks its servers call from (JSON object of CIDR lists); none: any address.
    callback_allowed_networks: dict[str, list[str]] = {}
    #: Per source address and provider.
    rate_limit_callback: str = "1200/minute"
    #: Providers' callbacks are a few hundred bytes; VNPay's IPN is a query string.
    callback_max_body_bytes: int = 64 * 1024
    callback_max_query_bytes: int = 8 * 1024
    #: Origins of the portal's web pages allowed by CORS (JSON list in the environment).
    cors_origins: list[str] = ["http://localhost:3000"]
    openapi_cache_seconds: float = 60.0

    # --- operations --------------------------------------------------------------------------------------------
    #: /metrics answers only a request with `Authorization: Bearer <this>` (the gateway's port is public); unset,
    #: the gateway's metrics are off (403). The services' /metrics are not published and need none.
    metrics_token: SecretStr | None = None

    def services(self) -> dict[str, str]:
        """Service name → base URL (what /readyz checks)."""
        return {
            "catalogue": self.catalogue_url,
            "intake": self.intake_url,
            "routing": self.routing_url,
            "payment": self.payment_url,
            "stats": self.stats_url,
            **({"connect": self.connect_url} if self.connect_url else {}),
        }

    @field_validator("callback_path_tokens", "callback_allowed_networks")
    @classmethod
    def _known_providers(cls, value: dict[str, object]) -> dict[str, object]:
        unknown = set(value) - CALLBACK_PROVIDERS
        if unknown:
            raise ValueError(f"unknown providers {sorted(unknown)}; known: {sorted(CALLBACK_PROVIDERS)}")
        return value

    @field_validator("callback_path_tokens")
    @classmethod
    def _tokens_unguessable(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for provider, token in value.items():
            secret = token.get_secret_value()
            if len(secret) < 16 or not secret.replace("-", "").replace("_", "").isalnum() or secret == "return":
                raise ValueError(f"the path token of {provider} must be at least 16 letters, digits, - or _")
        return value

    @field_validator("callback_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for provider, networks in value.items():
            for network in networks:
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{provider}: {exc}") from None
        return value

    def upstreams(self) -> dict[str, str]:
        """Public route family → base URL of the service behind it."""
        return {
            "catalogue": self.catalogue_url,
            "dossiers": self.intake_url,
            "routing": self.routing_url,
            "payments": self.payment_url,
            "stats": self.stats_url,
            **({"deliveries": self.connect_url} if self.connect_url else {}),
        }

"""Settings shared by every service (pydantic-settings).

Each service subclasses `ServiceSettings` with its own env prefix (``CATALOGUE_``, ``INTAKE_`` …). Values that all
services usually share (the Kafka bootstrap servers, the topic prefix) may also be given once with the ``MOTCUA_``
prefix; a service-prefixed variable wins over the shared one.

Secret settings (the `SecretStr` fields) have development defaults, public in this repository. A service refuses to
start while one of them is unchanged unless ``MOTCUA_DEV_MODE=true`` (`make run`, the tests, the simulation and
the benchmarks set it).
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from services.bus.kafka import KafkaSecurity, Mechanism, Protocol

SHARED_ENV_PREFIX = "MOTCUA_"


class DevelopmentSecretError(RuntimeError):
    """A service was started outside development mode with a secret setting at its public default."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=SHARED_ENV_PREFIX, extra="ignore")

    #: Name used in logs, metrics, the CloudEvents `source` and the relay lease.
    service_name: ClassVar[str] = "service"
    #: Secret settings of this class that only some services read (by `service_name`): only those refuse their
    #: development default. Every other secret setting is refused by every service.
    secret_readers: ClassVar[dict[str, frozenset[str]]] = {"owner_ref_secret": frozenset({"intake", "payment"})}

    database_url: str = "sqlite+aiosqlite:///var/service.db"
    db_pool_size: int = 10
    db_echo: bool = False
    #: PostgreSQL: ping each pooled connection before use (three round trips with asyncpg). Off, a connection the
    #: server closed is still replaced at checkout (asyncpg knows without a round trip); see `services.db`.
    db_pool_pre_ping: bool = True

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_replication_factor: int = 1
    #: PLAINTEXT suits one machine or a private network; a shared cluster takes SASL_SSL (Strimzi's `tls` listener
    #: with `scram-sha-512` authentication: one KafkaUser per service, see deploy/k8s/kafka).
    kafka_security_protocol: Protocol = "PLAINTEXT"
    kafka_sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    #: The CA of the brokers' certificates (PEM; Strimzi's `<cluster>-cluster-ca-cert`); none: the system's CAs.
    kafka_ssl_cafile: str | None = None
    #: Mutual TLS: this service's certificate and key (PEM), when the listener authenticates clients by certificate.
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    #: Every Kafka client waits this long before it tries a broker again (aiokafka's retry_backoff_ms, for requests,
    #: metadata, fetches and the group coordinator alike): while the broker is down, one attempt a second per loop.
    kafka_retry_backoff_ms: int = Field(1000, ge=10)
    #: The relay and the consumers rebuild a failed client after a delay that doubles up to this many seconds.
    kafka_reconnect_backoff_max: float = Field(10.0, gt=0)
    #: Every topic name starts with this, so that several deployments (or test runs) can share a broker.
    topic_prefix: str = "motcua"

    #: Shared by the gateway (which signs) and the services (which verify) the internal identity token.
    #: The default only suits a laptop; every real deployment sets MOTCUA_INTERNAL_TOKEN_SECRET.
    internal_token_secret: SecretStr = SecretStr("motcua-dev-internal-secret-change-me-0123456789")
    #: During a rotation: the secret being replaced, still accepted by the services (docs/DEPLOYING.md).
    internal_token_secret_previous: SecretStr | None = None
    #: Keys the pseudonymous owner reference of a dossier (services.policy.owner_ref): intake puts it on the
    #: events, payment-svc keeps it on the bill and checks the portal's citizen against it. The same value in intake
    #: and payment-svc; changing it cuts the portal off the bills opened before. Set MOTCUA_OWNER_REF_SECRET.
    owner_ref_secret: SecretStr = SecretStr("motcua-dev-owner-ref-secret-change-me-0123456789")

    #: Allows the development defaults of the secret settings (a laptop, the tests). Never in a real deployment.
    dev_mode: bool = False

    log_level: str = "INFO"
    log_json: bool = True
    #: The same warning or error (same logger, same message) is written at most once in this many seconds, with the
    #: number of repeats left out since the last one (`suppressed`); 0 writes every one.
    log_repeat_interval: float = Field(30.0, ge=0)

    relay_enabled: bool = True
    relay_batch_size: int = 1000
    #: Upper bound on how long a committed event waits when no wake-up reaches the relay (other replicas on SQLite).
    relay_poll_interval: float = 0.5
    relay_lease_seconds: float = 10.0
    #: After a commit wakes the relay, it waits this long before reading the outbox, so that the events of the
    #: commits meanwhile go out in the same produce request and delete (under load: a few rows per batch instead
    #: of one). Adds at most this much to an event's latency.
    relay_linger: float = 0.1

    consumers_enabled: bool = True
    consumer_max_attempts: int = 5
    consumer_retry_backoff: float = 0.2
    #: How long an event may wait for a fact from another topic (a handler's RetryLater) before dead-lettering.
    consumer_retry_later_limit: float = 600.0
    #: The broker answers a consumer's fetch when this many bytes are there or after `consumer_fetch_max_wait_ms`:
    #: under load, one fetch (and one transaction, see `EventConsumer.group_size`) carries many events instead of
    #: one fetch per event for every consumer group. Adds at most the wait to an event's latency.
    consumer_fetch_min_bytes: int = 64 * 1024
    consumer_fetch_max_wait_ms: int = 300

    #: Input limits, checked before a request is parsed (services/input_limits.py): JSON nesting depth, JSON body
    #: size, digits of one JSON number, query string and all request headers together (bytes).
    json_max_depth: int = 64
    json_max_bytes: int = 16 * 1024 * 1024
    json_max_number_digits: int = 100
    max_query_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> ServiceSettings:
        # A SASL protocol without credentials, or a TLS file that cannot be read, fails at start-up, not at first use.
        _ = self.kafka_security.ssl_context
        return self

    def development_secrets(self) -> list[str]:
        """The secret settings that still hold their (public) development default."""
        found = []
        for name, field in type(self).model_fields.items():
            value, default = getattr(self, name), field.default
            if self.service_name not in self.secret_readers.get(name, {self.service_name}):
                continue
            if (
                isinstance(default, SecretStr)
                and default.get_secret_value()
                and isinstance(value, SecretStr)
                and value.get_secret_value() == default.get_secret_value()
            ):
                found.append(name)
        return found

    def require_real_secrets(self) -> None:
        """Raises `DevelopmentSecretError` naming every secret setting left at its development default, unless
        `dev_mode` is on."""
        found = [] if self.dev_mode else self.development_secrets()
        if not found:
            return
        prefix = str(self.model_config.get("env_prefix") or SHARED_ENV_PREFIX)
        names = []
        for name in found:
            variables = dict.fromkeys([f"{prefix}{name.upper()}", f"{SHARED_ENV_PREFIX}{name.upper()}"])
            names.append(" or ".join(variables))
        raise DevelopmentSecretError(
            f"{self.service_name} refuses to start with development secrets: set "
            + "; ".join(names)
            + f" to a secret of your own (or {SHARED_ENV_PREFIX}DEV_MODE=true on a development machine)."
        )

    @cached_property
    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            cafile=self.kafka_ssl_cafile,
            certfile=self.kafka_ssl_certfile,
            keyfile=self.kafka_ssl_keyfile,
            retry_backoff_ms=self.kafka_retry_backoff_ms,
            reconnect_backoff_max=self.kafka_reconnect_backoff_max,
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("env_prefix") != SHARED_ENV_PREFIX:
            sources.append(EnvSettingsSource(settings_cls, env_prefix=SHARED_ENV_PREFIX))
        sources += [dotenv_settings, file_secret_settings]
        return tuple(sources)

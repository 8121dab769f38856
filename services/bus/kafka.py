"""Kafka client construction and the headers every message carries."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context

from services.events import CONTENT_TYPE
from services.observability import REQUEST_ID_HEADER

Headers = list[tuple[str, bytes]]


#: The CloudEvents Kafka binding's header for the event type: consumers skip the types they do not handle unparsed.
CE_TYPE_HEADER = "ce_type"


def event_headers(event_type: str, request_id: str | None) -> Headers:
    headers: Headers = [("content-type", CONTENT_TYPE.encode()), (CE_TYPE_HEADER, event_type.encode())]
    if request_id:
        headers.append((REQUEST_ID_HEADER, request_id.encode()))
    return headers


def header(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaSecurity:
    """How the clients of a service reach the brokers: Kafka's `security.protocol` with its SASL mechanism and
    credentials, for TLS the CA that signed the brokers' certificates (the system's trust store when none is given)
    with, for mutual TLS, the client's own certificate and key; and how often a client tries again while it cannot
    reach them. Every client of a service takes its options from here (`client_options`).

    aiokafka retries a request, a metadata refresh, a fetch or a coordinator lookup after `retry_backoff_ms`, on every
    client and without growing it: its default (100 ms) made each client try a broker that is down ten times a
    second, with a log line each time. The relay and the consumers rebuild their client after a failure with a delay
    that doubles up to `reconnect_backoff_max` seconds."""

    protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log line or a traceback
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    retry_backoff_ms: int = 1000
    reconnect_backoff_max: float = 10.0

    def __post_init__(self) -> None:
        if self.sasl and not (self.username and self.password):
            raise ValueError(f"Kafka security protocol {self.protocol} needs a SASL username and password")
        if bool(self.certfile) != bool(self.keyfile):
            raise ValueError("a Kafka client certificate needs its key, and a key its certificate")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """Built once (it reads the files) and shared by every client of the service."""
        if not self.tls:
            return None
        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.cafile or None, certfile=self.certfile or None, keyfile=self.keyfile or None
            )
        except (OSError, ssl.SSLError) as exc:  # a missing or unreadable file says which at start-up
            raise ValueError(f"Kafka TLS: {exc}") from exc
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client: producer, consumer, admin."""
        options: dict[str, Any] = {"security_protocol": self.protocol, "retry_backoff_ms": self.retry_backoff_ms}
        if self.tls:
            options["ssl_context"] = self.ssl_context
        if self.sasl:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return options


PLAINTEXT = KafkaSecurity()


def new_producer(
    bootstrap_servers: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT
) -> AIOKafkaProducer:
    """An idempotent producer: acks from all in-sync replicas, no duplicates or reordering from its own retries."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **security.client_options(),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=15000,
    )


async def close_quietly(producer: AIOKafkaProducer, timeout: float = 5.0) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout)
    except Exception:
        pass

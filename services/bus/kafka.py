"""Kafka client construction and the headers every message carries."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

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


def new_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer: acks from all in-sync replicas, no duplicates or reordering from its own retries."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


async def close_quietly(producer: AIOKafkaProducer, timeout: float = 5.0) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout)
    except Exception:
        pass

"""The Kafka topics of the system, created explicitly with their partition counts and cleanup policies.

Topics are per domain and keyed by aggregate id. The catalogue topics are compacted and carry the full current
state of each key, so a new replica can rebuild from them alone. Dead-letter topics are per consumer group.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.bus.kafka import PLAINTEXT, KafkaSecurity


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    config: dict[str, str] = field(default_factory=dict)

    def full_name(self, prefix: str) -> str:
        return f"{prefix}.{self.name}" if prefix else self.name

    def kafka_config(self) -> dict[str, str]:
        config = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if not self.compacted:
            config["retention.ms"] = "-1"  # the event log is the record; stats rebuild by replaying it
        config.update(self.config)
        return config


CATALOGUE_PROCEDURES = TopicSpec("catalogue.procedures", 6, compacted=True)
CATALOGUE_UNITS = TopicSpec("catalogue.units", 3, compacted=True)
CATALOGUE_CALENDAR = TopicSpec("catalogue.calendar", 1, compacted=True)
INTAKE_DOSSIERS = TopicSpec("intake.dossiers", 12)
ROUTING_JOURNEYS = TopicSpec("routing.journeys", 12)
PAYMENT_PAYMENTS = TopicSpec("payment.payments", 6)

DOMAIN_TOPICS = (
    CATALOGUE_PROCEDURES,
    CATALOGUE_UNITS,
    CATALOGUE_CALENDAR,
    INTAKE_DOSSIERS,
    ROUTING_JOURNEYS,
    PAYMENT_PAYMENTS,
)


def dead_letter_topic(group: str) -> TopicSpec:
    return TopicSpec(f"deadletter.{group}", 1)


async def ensure_topics(
    bootstrap_servers: str,
    prefix: str,
    specs: list[TopicSpec] | tuple[TopicSpec, ...],
    *,
    replication_factor: int = 1,
    security: KafkaSecurity = PLAINTEXT,
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=15000, **security.client_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=spec.full_name(prefix),
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=spec.kafka_config(),
            )
            for spec in specs
            if spec.full_name(prefix) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # a concurrent creator won the race; the topic exists, which is all we need
    finally:
        await admin.close()


def main() -> None:
    """`python -m services.topics`: create every domain topic (and the dead-letter topics of the known groups)."""
    from services.settings import ServiceSettings

    settings = ServiceSettings()
    groups = os.environ.get("MOTCUA_CONSUMER_GROUPS", "").split()
    specs = [*DOMAIN_TOPICS, *(dead_letter_topic(g) for g in groups)]
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.topic_prefix,
            specs,
            replication_factor=settings.kafka_replication_factor,
            security=settings.kafka_security,
        )
    )
    print(f"topics ready: {', '.join(s.full_name(settings.topic_prefix) for s in specs)}")


if __name__ == "__main__":
    main()

"""Kafka topics forgood uses, and creating them explicitly before anything runs.

Every topic is created up front with the configured partition count: brokers that
auto-create topics (tansu does, with 4 partitions) would otherwise create them on the first
metadata look-up with the wrong count, and Faust refuses to run on mismatched partitions.
:func:`ensure_topics` is idempotent and blocks until the broker has answered (bounded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from forgood.errors import ConfigError
from forgood.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    """The source, dead-letter, campaign and aggregate topics (not the worker's changelogs)."""
    n = settings.partitions
    return [
        TopicSpec(settings.video_topic, n),
        TopicSpec(settings.dlq_topic, n),
        TopicSpec(settings.campaigns_topic, 1, compacted=True),
        TopicSpec(settings.campaign_videos_topic, n),
        TopicSpec(settings.totals_topic, n, compacted=True),
        TopicSpec(settings.minutes_topic, n, compacted=True),
    ]


def admin_client(settings: Settings) -> KafkaAdminClient:
    """A kafka-python admin client; raises ``kafka.errors.NoBrokersAvailable`` if none answers."""
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id="forgood-admin",
        request_timeout_ms=15000,
    )


def ensure_topics(settings: Settings, extra: list[TopicSpec] | None = None) -> None:
    """Create missing topics; check existing ones have the expected partition count.

    Raises :class:`ConfigError` when a topic exists with another partition count (delete it
    or change ``FORGOOD_PARTITIONS``); lets Kafka connection errors propagate.
    """
    specs = pipeline_topics(settings) + list(extra or [])
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            new = [
                NewTopic(
                    name=s.name,
                    num_partitions=s.partitions,
                    replication_factor=1,
                    topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
                )
                for s in missing
            ]
            try:
                admin.create_topics(new, validate_only=False)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics: %s", ", ".join(s.name for s in missing))
        described = {
            d["name"]: len(d["partitions"])
            for d in admin.describe_topics([s.name for s in specs])
        }
        wrong = [
            f"{s.name} has {described.get(s.name)} partitions, expected {s.partitions}"
            for s in specs
            if described.get(s.name) != s.partitions
        ]
        if wrong:
            raise ConfigError(
                "topics exist with the wrong partition count: " + "; ".join(wrong)
                + " (delete them, or set FORGOOD_PARTITIONS to match)"
            )
    finally:
        admin.close()

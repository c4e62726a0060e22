"""Kafka topics forgood uses, and creating them explicitly before anything runs.

Every topic is created up front with the configured partition count and replication
factor: a broker that auto-creates topics would otherwise create them on the first metadata
look-up with its default count, and Faust refuses to run on mismatched partitions.
:func:`ensure_topics` is idempotent and blocks (bounded) until every topic exists with a
leader for each partition: Kafka creates topics asynchronously, so a topic just created may
briefly describe as having no partitions or no leader.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from forgood.domain.errors import ConfigError
from forgood.domain.kafka import make_admin
from forgood.domain.settings import Settings

log = logging.getLogger(__name__)

#: Longest :func:`ensure_topics` waits for new topics to have a leader on every partition.
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    """The source and dead-letter topics (:func:`video_event_topics` for status and stats),
    the campaign and the aggregate topics (not the worker's changelogs)."""
    n = settings.partitions
    return [
        TopicSpec(settings.video_topic, n),
        TopicSpec(settings.dlq_topic, n),
        *video_event_topics(settings),
        TopicSpec(settings.campaigns_topic, 1, compacted=True),
        TopicSpec(settings.campaign_videos_topic, n),
        TopicSpec(settings.totals_topic, n, compacted=True),
        TopicSpec(settings.minutes_topic, n, compacted=True),
        TopicSpec(settings.video_rows_topic, n),
        TopicSpec(settings.changes_topic, 1, compacted=True),
    ]


def video_event_topics(settings: Settings) -> list[TopicSpec]:
    """The ``video-status`` and ``video-stats`` source topics and their dead-letter topics (issue 13).

    Same partition count as ``video-created`` and keyed by ``video_id``, so the three source
    topics are co-partitioned: partition *p* of each holds the same videos. Each source has a
    dead-letter topic of its own, ``<name>.dlq``, like ``video-created.dlq``. Source topics
    are not prefixed by ``FORGOOD_TOPIC_PREFIX``: a namespace (tests, bench) names all three.
    """
    n = settings.partitions
    return [
        TopicSpec(settings.status_topic, n),
        TopicSpec(settings.status_dlq_topic, n),
        TopicSpec(settings.stats_topic, n),
        TopicSpec(settings.stats_dlq_topic, n),
    ]


def ensure_topics(settings: Settings, extra: list[TopicSpec] | None = None) -> None:
    """Create missing topics; check existing ones have the expected partition count.

    Raises :class:`ConfigError` when a topic exists with another partition count (delete it
    or change ``FORGOOD_PARTITIONS``) or has no leader after ``READY_TIMEOUT_S``; lets Kafka
    connection errors propagate (``kafka.errors.KafkaTimeoutError`` when no broker answers).
    """
    specs = pipeline_topics(settings) + list(extra or [])
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            new = [
                NewTopic(
                    name=s.name,
                    num_partitions=s.partitions,
                    replication_factor=settings.replication_factor,
                    topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
                )
                for s in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: as good
                admin.create_topics(new, validate_only=False)
            log.info("created topics: %s", ", ".join(s.name for s in missing))
        _check_partitions(admin, specs, bool(missing))
    finally:
        admin.close()


def _check_partitions(admin: KafkaAdminClient, specs: list[TopicSpec], just_created: bool) -> None:
    """Wait until every topic has a leader on each partition, then compare partition counts."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        described = {d["name"]: d for d in admin.describe_topics([s.name for s in specs])}
        leaderless = [
            name for name, d in described.items()
            if d.get("error_code") or not d["partitions"]
            or any(p.get("error_code") or p.get("leader_id", -1) < 0 for p in d["partitions"])
        ]  # fmt: skip
        if not leaderless or time.monotonic() >= deadline:
            break
        time.sleep(0.1 if just_created else 0.5)
    if leaderless:
        raise ConfigError(
            f"topics without a leader after {READY_TIMEOUT_S:.0f} s: {', '.join(leaderless)} "
            "(is every broker up? see the broker's log)"
        )
    wrong = [
        f"{s.name} has {len(described[s.name]['partitions'])} partitions, expected {s.partitions}"
        for s in specs
        if len(described[s.name]["partitions"]) != s.partitions
    ]
    if wrong:
        raise ConfigError(
            "topics exist with the wrong partition count: " + "; ".join(wrong)
            + " (delete them, or set FORGOOD_PARTITIONS to match)"
        )

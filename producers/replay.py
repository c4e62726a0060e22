"""Replaying events to a source topic, byte for byte: JSON lines of a file (``forgood produce
--from FILE [--topic TOPIC]``) or records given with their topics and keys (``forgood dlq
replay`` re-sends dead letters).

Every non-blank line is sent as it is, even if it is not valid JSON: judging events is the
stream worker's job (bad ones reach the source's dead-letter topic), and a replay tool that
dropped lines would lose them silently. Each line is keyed by its ``video_id`` when it has one
(all three source topics are keyed and co-partitioned by it). Blocks until every event is
acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from forgood.domain.errors import ConfigError
from forgood.domain.kafka import make_producer
from forgood.domain.settings import Settings
from producers.sending import SendReport, finish, send_raw, send_record

#: The source topics by role, as ``--topic`` accepts them: role -> the setting naming the topic.
SOURCE_ROLES = {"created": "video_topic", "status": "status_topic", "stats": "stats_topic"}


def source_topic(settings: Settings, name: str) -> str:
    """The source topic ``name`` means: a role (``created``, ``status``, ``stats``) or the name
    of one of the three source topics as configured (``video-status``, or whatever
    ``FORGOOD_STATUS_TOPIC`` says). Raises :class:`ConfigError` naming the choices otherwise
    (a dead-letter or internal topic is not a source topic)."""
    if name in SOURCE_ROLES:
        return str(getattr(settings, SOURCE_ROLES[name]))
    if name in settings.source_topics:
        return name
    choices = ", ".join(f"{role} ({getattr(settings, attr)})" for role, attr in SOURCE_ROLES.items())
    raise ConfigError(f"unknown topic {name!r}: give a source topic by role or name: {choices}")


def replay_records(settings: Settings, records: Iterable[tuple[str, bytes | None, bytes]], *,
                   client_id: str = "forgood-dlq-replay") -> SendReport:
    """Send each ``(topic, key, value)`` as it is; blocks until all are acknowledged.

    Raises ``ProducerError`` if any send fails (see :func:`producers.sending.finish`).
    """
    producer = make_producer(settings, client_id=client_id)
    report = SendReport()
    for topic, key, value in records:
        send_record(producer, topic, key, value, report)
    return finish(producer, report)


def replay_file(settings: Settings, path: Path, *, topic: str | None = None,
                show_progress: bool = True) -> SendReport:
    """Send every non-blank line of ``path`` to ``topic`` (default: the video-created topic);
    raises ``ProducerError`` if any send fails."""
    topic = topic or settings.video_topic
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    producer = make_producer(settings, client_id="forgood-replay")
    report = SendReport()
    with Progress(
        TextColumn("replaying [bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    ) as progress:
        task = progress.add_task(f"{path.name} → {topic}", total=len(lines))
        for index, line in enumerate(lines, 1):
            send_raw(producer, topic, line, report)
            if index % 1000 == 0:
                progress.update(task, completed=index)
        progress.update(task, completed=len(lines))
    return finish(producer, report)

"""Replaying events to ``video-created``, byte for byte: JSON lines of a file (``forgood produce
--from FILE``) or records given with their keys (``forgood dlq replay`` re-sends dead letters).

Every non-blank line is sent as it is, even if it is not valid JSON: judging events is the
stream worker's job (bad ones reach the dead-letter topic), and a replay tool that dropped
lines would lose them silently. Blocks until every event is acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from forgood.domain.kafka import make_producer
from forgood.domain.settings import Settings
from producers.sending import SendReport, finish, send_raw, send_record


def replay_records(settings: Settings, records: Iterable[tuple[bytes | None, bytes]], *,
                   client_id: str = "forgood-dlq-replay") -> SendReport:
    """Send each ``(key, value)`` to the source topic as it is; blocks until all are acknowledged.

    Raises ``ProducerError`` if any send fails (see :func:`producers.sending.finish`).
    """
    producer = make_producer(settings, client_id=client_id)
    report = SendReport()
    for key, value in records:
        send_record(producer, settings.video_topic, key, value, report)
    return finish(producer, report)


def replay_file(settings: Settings, path: Path, *, show_progress: bool = True) -> SendReport:
    """Send every line of ``path``; raises ``ProducerError`` if any send fails."""
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
        task = progress.add_task(path.name, total=len(lines))
        for index, line in enumerate(lines, 1):
            send_raw(producer, settings.video_topic, line, report)
            if index % 1000 == 0:
                progress.update(task, completed=index)
        progress.update(task, completed=len(lines))
    return finish(producer, report)

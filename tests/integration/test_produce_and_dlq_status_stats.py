"""`forgood produce --from FILE --topic` on the status and stats topics, and `forgood dlq
show|replay` over the three dead-letter topics, on the real local stack.

The dead letters are written straight to the dead-letter topics with the headers the stream
worker gives them, so these tests depend on no worker at all."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from forgood.domain.kafka import make_producer
from forgood.domain.topics import ensure_topics
from tests.support.eventset import write_events
from tests.support.topics import read_topic

pytestmark = pytest.mark.integration

AT = "2026-12-01T12:00:00Z"


def _status(n: int, video: str, status: str = "removed") -> bytes:
    return json.dumps({"event_id": f"s-{n}", "video_id": video, "status": status, "reason": "moderation",
                       "at": AT}).encode()


def _stats(n: int, video: str, views: int) -> bytes:
    return json.dumps({"event_id": f"v-{n}", "video_id": video, "views": views, "likes": 3, "shares": 0,
                       "comments": 1, "observed_at": AT}).encode()


def _key(value: bytes) -> bytes | None:
    try:
        video = json.loads(value).get("video_id")
    except ValueError:
        return None
    return video.encode() if isinstance(video, str) else None


def _assert_exact(records: list, lines: list[bytes]) -> None:
    """The topic holds exactly ``lines`` (as a multiset), each keyed by its video_id, and the
    events of each video in file order (one key, one partition)."""
    assert Counter(r.value for r in records) == Counter(lines)
    for record in records:
        assert record.key == _key(record.value), record
    by_key: dict = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(record.key, []).append(record.value)
    for key, values in by_key.items():
        if key is not None:
            assert values == [line for line in lines if _key(line) == key]


def test_produce_replays_status_and_stats_files_byte_for_byte_to_their_topics(run_settings, procs, tmp_path):
    status_lines = [
        _status(1, "vid-1"),
        _status(2, "vid-2"),
        _status(3, "vid-1", "restored"),
        b'{ "event_id":"s-4",  "video_id":"vid-\xc3\xa9", "status":"removed","reason":"fraud","at":"' + AT.encode()
        + b'", "extra": [1, 2] }',  # odd spacing, UTF-8, an extra field: sent as it is
        b"not json at all",  # bad ones are sent too (the worker dead-letters them), unkeyed
        _status(5, "vid-1"),  # the same video again: same key, same partition, file order
    ]
    stats_lines = [_stats(i, f"vid-{i % 3}", views=10 * i) for i in range(12)] + [b'{"views": -1}']
    status_file = write_events(tmp_path, "status.jsonl", status_lines)
    stats_file = write_events(tmp_path, "stats.jsonl", stats_lines)

    by_role = procs.run("produce", "--from", str(status_file), "--topic", "status", "--quiet")
    assert by_role.returncode == 0, by_role.stderr
    assert f"sent 6 events (6 to {run_settings.status_topic};".encode() in by_role.stdout, by_role.stdout
    by_name = procs.run("produce", "--from", str(stats_file), "--topic", run_settings.stats_topic, "--quiet")
    assert by_name.returncode == 0, by_name.stderr

    _assert_exact(read_topic(run_settings, run_settings.status_topic), status_lines)
    _assert_exact(read_topic(run_settings, run_settings.stats_topic), stats_lines)
    assert read_topic(run_settings, run_settings.video_topic) == [], "nothing goes to video-created"

    unknown = procs.run("produce", "--from", str(status_file), "--topic", run_settings.status_dlq_topic)
    assert unknown.returncode == 2
    assert b"unknown topic" in unknown.stderr and b"Traceback" not in unknown.stderr, unknown.stderr


def _dead_letter(run_settings, dlq: str, value: bytes, reason: str, source: str | None, offset: int) -> None:
    headers = [("forgood-reason", reason.encode()), ("forgood-message", f"bad: {reason}".encode()),
               ("forgood-source-partition", b"1"), ("forgood-source-offset", str(offset).encode()),
               ("forgood-failed-at", datetime.now(UTC).isoformat().encode())]
    if source is not None:
        headers.append(("forgood-source-topic", source.encode()))
    producer = make_producer(run_settings, client_id="forgood-tests")
    try:
        producer.send(dlq, key=_key(value), value=value, headers=headers).get(timeout=30)
    finally:
        producer.close(timeout=10)


def test_dlq_replay_sends_each_dead_letter_back_to_its_own_source_topic(run_settings, procs, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # a wide table: nothing in `dlq show` is cut
    s = run_settings
    ensure_topics(s)
    status_bad = _status(1, "vid-s").replace(b'"moderation"', b'"gone"')
    status_other = _status(2, "vid-t").replace(b'"removed"', b'"deleted"')
    stats_bad = _stats(1, "vid-v", views=-5)
    created_bad = b'{"event_id": "c-1", "video_id": "vid-c"}'
    _dead_letter(s, s.status_dlq_topic, status_bad, "unknown_reason", s.status_topic, 7)
    _dead_letter(s, s.status_dlq_topic, status_other, "unknown_status", s.status_topic, 8)
    _dead_letter(s, s.stats_dlq_topic, stats_bad, "negative_count", None, 9)  # no source header: its DLQ's source
    _dead_letter(s, s.dlq_topic, created_bad, "missing_field", s.video_topic, 10)

    shown = procs.run("dlq", "show")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    for fragment in (f"{s.dlq_topic} 1", f"{s.status_dlq_topic} 2", f"{s.stats_dlq_topic} 1", "unknown_reason",
                     "unknown_status", "negative_count", "missing_field", "[1]@7", "[1]@9"):
        assert fragment in text, (fragment, text)
    assert text.count(s.status_topic) >= 3  # two rows and the title's dead-letter topic
    only_stats = procs.run("dlq", "show", "--topic", "stats").stdout.decode()
    assert "negative_count" in only_stats and "unknown_reason" not in only_stats, only_stats

    # One source topic and one reason: only that letter, to the status topic.
    first = procs.run("dlq", "replay", "--topic", "status", "--reason", "unknown_reason")
    assert first.returncode == 0, first.stderr
    assert f"re-sent 1 dead letter(s): 1 to {s.status_topic}".encode() in first.stdout, first.stdout
    status_records = read_topic(s, s.status_topic)
    assert [(r.key, r.value) for r in status_records] == [(b"vid-s", status_bad)]
    assert read_topic(s, s.stats_topic) == [] and read_topic(s, s.video_topic) == []

    # The rest: the status letter skipped for its reason stays skipped; the other topics' go home.
    rest = procs.run("dlq", "replay")
    assert rest.returncode == 0, rest.stderr
    assert b"re-sent 2 dead letter(s)" in rest.stdout, rest.stdout
    assert [(r.key, r.value) for r in read_topic(s, s.stats_topic)] == [(b"vid-v", stats_bad)]
    assert [(r.value) for r in read_topic(s, s.video_topic)] == [created_bad]
    assert len(read_topic(s, s.status_topic)) == 1
    again = procs.run("dlq", "replay")
    assert b"re-sent 0 dead letter(s)" in again.stdout, again.stdout

"""`forgood produce --topic`, `forgood dlq show|replay` over the three dead-letter topics, and
clear errors (no traceback) from `campaigns list` and `dlq show` — without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from typer.testing import CliRunner

import forgood.cli.campaigns
import forgood.cli.dead_letters
from forgood.cli.cli import app
from forgood.cli.dead_letters import dead_letter_topics, to_letter
from forgood.domain.errors import ConfigError, ProducerError
from forgood.domain.settings import Settings, get_settings
from producers.replay import source_topic

SETTINGS = Settings(video_topic="vc", status_topic="vs", stats_topic="vt")


@pytest.mark.parametrize(("name", "topic"), [
    ("created", "vc"), ("status", "vs"), ("stats", "vt"), ("vc", "vc"), ("vs", "vs"), ("vt", "vt"),
])
def test_a_source_topic_is_named_by_role_or_by_its_configured_name(name, topic):
    assert source_topic(SETTINGS, name) == topic


@pytest.mark.parametrize("name", ["video-status", "vs.dlq", "forgood-campaigns", "Status", ""])
def test_anything_else_is_an_unknown_topic_naming_the_choices(name):
    with pytest.raises(ConfigError) as caught:
        source_topic(SETTINGS, name)
    assert f"unknown topic {name!r}" in str(caught.value)
    for choice in ("created (vc)", "status (vs)", "stats (vt)"):
        assert choice in str(caught.value)


def test_every_source_topic_has_its_dead_letter_topic():
    assert dead_letter_topics(SETTINGS) == {"vc.dlq": "vc", "vs.dlq": "vs", "vt.dlq": "vt"}
    assert dead_letter_topics(SETTINGS, "status") == {"vs.dlq": "vs"}
    with pytest.raises(ConfigError):
        dead_letter_topics(SETTINGS, "vs.dlq")


def _record(topic: str, headers: dict[str, str], value: bytes = b'{"video_id": "v1"}') -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=2, leader_epoch=0, offset=17, timestamp=1_700_000_000_000,
                          timestamp_type=0, key=b"v1", value=value,
                          headers=[(k, v.encode()) for k, v in headers.items()],
                          checksum=None, serialized_key_size=2, serialized_value_size=len(value),
                          serialized_header_size=-1)


HEADERS = {"forgood-reason": "unknown_status", "forgood-message": "status 'gone' is not one of removed, restored",
           "forgood-source-topic": "vs", "forgood-source-partition": "3", "forgood-source-offset": "41",
           "forgood-failed-at": "2026-12-01T12:00:00Z"}


def test_a_dead_letter_goes_back_to_the_source_its_header_names():
    letter = to_letter(_record("vs.dlq", HEADERS), SETTINGS, "vs")
    assert (letter.topic, letter.source_topic, letter.source) == ("vs.dlq", "vs", "vs[3]@41")
    assert (letter.reason, letter.failed_at, letter.key) == ("unknown_status", "2026-12-01T12:00:00Z", b"v1")


@pytest.mark.parametrize("header", [None, "", "somewhere-else", "vs.dlq"])
def test_without_a_source_topic_header_naming_a_source_it_goes_back_to_its_dead_letter_topics_source(header):
    headers = {k: v for k, v in HEADERS.items() if k != "forgood-source-topic"}
    if header is not None:
        headers["forgood-source-topic"] = header
    letter = to_letter(_record("vt.dlq", headers), SETTINGS, "vt")
    assert letter.source_topic == "vt"
    assert letter.position == "[3]@41"


def test_a_letter_without_headers_is_still_shown():
    letter = to_letter(_record("vc.dlq", {}, value=b"x" * 200), SETTINGS, "vc")
    assert (letter.reason, letter.source, letter.source_topic) == ("unknown", "vc[?]@?", "vc")
    assert letter.preview == "x" * 120 + "…"


# --------------------------------------------------------------------------- the commands


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    """Run `forgood ...` in-process with a broker address nothing answers on."""
    monkeypatch.setenv("FORGOOD_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def _assert_clear_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = " ".join(result.output.split())
    assert "error:" in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def _raise(exc: BaseException):
    def fail(*_args, **_kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("exc", [ProducerError("could not read forgood-campaigns to its end in 10.0 s"),
                                 KafkaTimeoutError("Unable to bootstrap from ['127.0.0.1:1']")])
def test_campaigns_list_reports_a_failure_clearly(cli, monkeypatch, exc):
    monkeypatch.setattr(forgood.cli.campaigns, "read_campaigns", _raise(exc))
    result = cli("campaigns", "list")
    _assert_clear_error(result, str(exc).split(" in ")[0])


@pytest.mark.parametrize("exc", [ConfigError("FORGOOD_KAFKA_BOOTSTRAP='x:y': bad"),
                                 KafkaTimeoutError("Unable to bootstrap from ['127.0.0.1:1']")])
def test_dlq_show_reports_a_failure_clearly(cli, monkeypatch, exc):
    monkeypatch.setattr(forgood.cli.dead_letters, "show", _raise(exc))
    result = cli("dlq", "show")
    _assert_clear_error(result, str(exc))
    if isinstance(exc, KafkaTimeoutError):
        _assert_clear_error(result, "Kafka at 127.0.0.1:1 failed", "forgood stack status")


def test_dlq_replay_reports_a_failure_clearly(cli, monkeypatch):
    failure = ProducerError("1 of 3 events were not acknowledged")
    monkeypatch.setattr(forgood.cli.dead_letters, "replay", _raise(failure))
    _assert_clear_error(cli("dlq", "replay"), "1 of 3 events were not acknowledged")


def test_dlq_commands_refuse_an_unknown_topic_before_connecting(cli):
    for command in ("show", "replay"):
        _assert_clear_error(cli("dlq", command, "--topic", "video-statuz"), "unknown topic 'video-statuz'",
                            "status (video-status)")


def test_produce_refuses_an_unknown_topic_before_connecting(cli, tmp_path: Path):
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    _assert_clear_error(cli("produce", "--from", str(events), "--topic", "video-status.dlq"),
                        "unknown topic 'video-status.dlq'", "created (video-created)")
    _assert_clear_error(cli("produce", "--simulate", "--topic", "stats"), "--topic goes with --from FILE")


# --------------------------------------------------------------------------- show and replay, broker stubbed


class _Consumer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def close(self) -> None:
        self.calls.append("close")


def _letters() -> list:
    made = []
    for dlq, source, ts, reason in [("vs.dlq", "vs", 30, "unknown_status"), ("vc.dlq", "vc", 10, "not_json"),
                                    ("vt.dlq", "vt", 20, "not_json"), ("vs.dlq", "vs", 40, "not_json")]:
        record = _record(dlq, {**HEADERS, "forgood-reason": reason, "forgood-source-topic": source},
                         value=f'{{"video_id": "v{ts}"}}'.encode())
        made.append(to_letter(record._replace(timestamp=ts, key=f"v{ts}".encode()), SETTINGS, source))
    return made


def test_show_lists_every_dead_letter_topic_oldest_first_and_keeps_the_newest(monkeypatch):
    consumer = _Consumer()
    monkeypatch.setattr(forgood.cli.dead_letters, "read_dead_letters", lambda *a, **k: (consumer, _letters()))
    shown = forgood.cli.dead_letters.show(SETTINGS, limit=0)
    assert [d.timestamp_ms for d in shown] == [10, 20, 30, 40]
    assert [d.timestamp_ms for d in forgood.cli.dead_letters.show(SETTINGS, limit=2)] == [30, 40]
    assert consumer.calls[-1] == "close"


def test_replay_sends_each_letter_to_its_source_then_commits(monkeypatch):
    consumer = _Consumer()
    asked: dict = {}

    def read(settings, **kwargs):
        asked.update(kwargs)
        return consumer, _letters()

    sent: list = []

    def send(settings, records):
        sent.extend(records)
        consumer.calls.append("sent")
        return "report"

    monkeypatch.setattr(forgood.cli.dead_letters, "read_dead_letters", read)
    monkeypatch.setattr(forgood.cli.dead_letters, "replay_records", send)
    assert forgood.cli.dead_letters.replay(SETTINGS, "not_json", "status") == "report"
    assert asked == {"from_committed": True, "topic": "status"}
    assert sent == [("vc", b"v10", b'{"video_id": "v10"}'), ("vt", b"v20", b'{"video_id": "v20"}'),
                    ("vs", b"v40", b'{"video_id": "v40"}')]  # (the stub ignores the topic filter)
    assert consumer.calls == ["sent", "commit", "close"]


def test_replay_commits_nothing_when_a_send_fails(monkeypatch):
    consumer = _Consumer()
    monkeypatch.setattr(forgood.cli.dead_letters, "read_dead_letters", lambda *a, **k: (consumer, _letters()))
    monkeypatch.setattr(forgood.cli.dead_letters, "replay_records", _raise(ProducerError("1 of 4 not acknowledged")))
    with pytest.raises(ProducerError):
        forgood.cli.dead_letters.replay(SETTINGS)
    assert consumer.calls == ["close"]

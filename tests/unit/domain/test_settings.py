"""forgood.domain.settings: defaults, environment overrides, the ClickHouse URL, immutability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from forgood.domain.settings import ClickHouseTarget, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Each test starts from an environment without FORGOOD_* variables."""
    for name in list(os.environ):
        if name.upper().startswith("FORGOOD_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults():
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.clickhouse_url == "clickhouse://127.0.0.1:9000/forgood"
    assert s.clickhouse_http_port == 8123
    assert s.video_topic == "video-created"
    assert s.topic_prefix == ""
    assert s.partitions == 8
    assert s.app_id == "forgood"
    assert s.state_dir == Path(".forgood")
    assert s.campaigns_file == Path("campaigns.example.yaml")
    assert s.batch_size == 2000
    assert s.max_future_skew_s == 300
    assert s.log_level == "INFO"


def test_default_clickhouse_target():
    ch = Settings().clickhouse
    assert (ch.host, ch.port, ch.user, ch.password, ch.database, ch.secure) == (
        "127.0.0.1",
        9000,
        "default",
        "",
        "forgood",
        False,
    )


def test_default_topic_names():
    s = Settings()
    assert s.campaigns_topic == "forgood-campaigns"
    assert s.campaign_videos_topic == "forgood-campaign-videos"
    assert s.totals_topic == "forgood-campaign-totals"
    assert s.minutes_topic == "forgood-campaign-minutes"
    assert s.dlq_topic == "video-created.dlq"


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("FORGOOD_KAFKA_BOOTSTRAP", "broker-a:19092,broker-b:19092")
    monkeypatch.setenv("FORGOOD_CLICKHOUSE_URL", "clickhouses://alice:s3cret@ch.example.com:9440/charity")
    monkeypatch.setenv("FORGOOD_PARTITIONS", "16")
    monkeypatch.setenv("FORGOOD_BATCH_WINDOW_S", "0.05")
    monkeypatch.setenv("FORGOOD_STATE_DIR", "/var/lib/forgood")
    monkeypatch.setenv("FORGOOD_TOPIC_PREFIX", "test-")
    monkeypatch.setenv("FORGOOD_VIDEO_TOPIC", "videos")
    s = Settings()
    assert s.kafka_bootstrap == "broker-a:19092,broker-b:19092"
    assert s.partitions == 16
    assert s.batch_window_s == 0.05
    assert s.state_dir == Path("/var/lib/forgood")
    assert s.campaigns_topic == "test-forgood-campaigns"
    assert s.totals_topic == "test-forgood-campaign-totals"
    # The source topic is not prefixed, and its dead-letter topic follows it.
    assert s.video_topic == "videos"
    assert s.dlq_topic == "videos.dlq"
    ch = s.clickhouse
    assert (ch.host, ch.port, ch.user, ch.password, ch.database, ch.secure) == (
        "ch.example.com",
        9440,
        "alice",
        "s3cret",
        "charity",
        True,
    )


def test_env_names_are_case_insensitive(monkeypatch):
    monkeypatch.setenv("forgood_app_id", "other-app")
    assert Settings().app_id == "other-app"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FORGOOD_PARTITIONS", "0"),
        ("FORGOOD_PARTITIONS", "many"),
        ("FORGOOD_BATCH_SIZE", "0"),
        ("FORGOOD_BATCH_WINDOW_S", "0"),
        ("FORGOOD_MAX_FUTURE_SKEW_S", "-1"),
        ("FORGOOD_CLICKHOUSE_URL", "http://127.0.0.1:8123/forgood"),
    ],
)
def test_invalid_env_value_raises(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    field = name.removeprefix("FORGOOD_").lower()
    assert info.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("clickhouse://127.0.0.1:9000/forgood", ("127.0.0.1", 9000, "default", "", "forgood", False)),
        ("clickhouse://bob:pw@db.internal:19000/stats_2026", ("db.internal", 19000, "bob", "pw", "stats_2026", False)),
        ("clickhouse://bob@db.internal/stats", ("db.internal", 9000, "bob", "", "stats", False)),
        ("clickhouse://db.internal", ("db.internal", 9000, "default", "", "forgood", False)),
        ("clickhouse://db.internal/", ("db.internal", 9000, "default", "", "forgood", False)),
        ("clickhouse:///analytics", ("127.0.0.1", 9000, "default", "", "analytics", False)),
        ("clickhouses://u:p@secure.example:9440/x", ("secure.example", 9440, "u", "p", "x", True)),
        ("clickhouse://u:p@[::1]:9000/x", ("::1", 9000, "u", "p", "x", False)),
    ],
)
def test_clickhouse_url_parsing(url, expected):
    t = ClickHouseTarget(url)
    assert (t.host, t.port, t.user, t.password, t.database, t.secure) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9000/forgood", "must start with clickhouse://"),
        ("127.0.0.1:9000", "must start with clickhouse://"),
        ("", "must start with clickhouse://"),
        ("clickhouse://h/my-db", "database name"),
        ("clickhouse://h/a/b", "database name"),
        ("clickhouse://h/db;drop", "database name"),
        ("clickhouse://h:notaport/db", "Port"),
        ("clickhouse://h:99999/db", "Port"),
    ],
)
def test_invalid_clickhouse_url(url, message):
    with pytest.raises(ValueError, match=message):
        ClickHouseTarget(url)


def test_invalid_clickhouse_url_in_settings_names_the_field():
    with pytest.raises(ValidationError) as info:
        Settings(clickhouse_url="clickhouse://h/bad-name")
    assert info.value.errors()[0]["loc"] == ("clickhouse_url",)
    assert "database name" in str(info.value)


def test_settings_are_frozen():
    s = Settings()
    with pytest.raises(ValidationError):
        s.kafka_bootstrap = "elsewhere:9092"
    with pytest.raises(ValidationError):
        s.partitions = 3
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.partitions == 8


def test_settings_are_hashable_and_equal_by_value():
    assert Settings() == Settings()
    assert hash(Settings()) == hash(Settings())


@pytest.mark.parametrize("database", ["dätabase", "db²", "数据"])
def test_clickhouse_database_must_be_ascii(database):
    with pytest.raises(ValueError, match="database name"):
        ClickHouseTarget(f"clickhouse://h/{database}")


def test_clickhouse_password_is_percent_decoded():
    t = ClickHouseTarget("clickhouse://bob:p%2Fss%40word@h:9000/db")
    assert t.password == "p/ss@word"


# --- issue 13: the video-status and video-stats source topics ----------------------------------

def test_status_and_stats_defaults():
    s = Settings()
    assert (s.status_topic, s.stats_topic, s.pending_ttl_s) == ("video-status", "video-stats", 3600)
    assert s.status_dlq_topic == "video-status.dlq"
    assert s.stats_dlq_topic == "video-stats.dlq"
    assert s.source_topics == ("video-created", "video-status", "video-stats")


def test_status_and_stats_topics_are_not_prefixed_and_each_has_its_own_dead_letters(monkeypatch):
    monkeypatch.setenv("FORGOOD_TOPIC_PREFIX", "test-")
    monkeypatch.setenv("FORGOOD_STATUS_TOPIC", "removals")
    monkeypatch.setenv("FORGOOD_STATS_TOPIC", "engagement")
    monkeypatch.setenv("FORGOOD_PENDING_TTL_S", "90")
    s = Settings()
    assert s.campaigns_topic == "test-forgood-campaigns"
    assert (s.status_topic, s.status_dlq_topic) == ("removals", "removals.dlq")
    assert (s.stats_topic, s.stats_dlq_topic) == ("engagement", "engagement.dlq")
    assert s.pending_ttl_s == 90
    assert [s.dlq_topic_for(t) for t in s.source_topics] == [
        "video-created.dlq", "removals.dlq", "engagement.dlq"]
    assert s.dlq_topic_for("video-created") == s.dlq_topic


def test_dlq_topic_for_refuses_a_topic_that_is_no_source():
    with pytest.raises(ValueError, match="not a source topic"):
        Settings().dlq_topic_for("forgood-campaigns")
    with pytest.raises(ValueError, match="not a source topic"):
        Settings().dlq_topic_for("video-created.dlq")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FORGOOD_PENDING_TTL_S", "0"),
        ("FORGOOD_PENDING_TTL_S", "-1"),
        ("FORGOOD_PENDING_TTL_S", "an hour"),
        ("FORGOOD_STATUS_TOPIC", "video-created"),
        ("FORGOOD_STATS_TOPIC", "video-created"),
        ("FORGOOD_STATS_TOPIC", "video-status"),
    ],
)
def test_invalid_status_and_stats_settings_raise(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert info.value.errors()[0]["loc"] == (name.removeprefix("FORGOOD_").lower(),)


def test_source_topics_must_differ_whichever_is_renamed(monkeypatch):
    monkeypatch.setenv("FORGOOD_VIDEO_TOPIC", "video-stats")
    with pytest.raises(ValidationError, match="already another source topic"):
        Settings()
    monkeypatch.setenv("FORGOOD_STATS_TOPIC", "stats")
    assert Settings().source_topics == ("video-stats", "video-status", "stats")

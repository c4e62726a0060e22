"""Settings: one frozen, typed object read once from the environment.

Every process (producer, stream worker, sink, CLI) calls :func:`get_settings` and never
reads ``os.environ`` itself. Variables are prefixed ``FORGOOD_``; the README lists them all.
An invalid value raises :class:`pydantic.ValidationError` at start-up, naming the variable.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClickHouseTarget:
    """The parts of ``FORGOOD_CLICKHOUSE_URL``: host, port, user, password, database."""

    __slots__ = ("host", "port", "user", "password", "database", "secure")

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("clickhouse", "clickhouses"):
            raise ValueError(f"ClickHouse URL must start with clickhouse:// (got {url!r})")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 9000
        self.user = unquote(parsed.username or "default")
        self.password = unquote(parsed.password or "")
        self.database = (parsed.path or "/").strip("/") or "forgood"
        self.secure = parsed.scheme == "clickhouses"
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.database):
            raise ValueError(f"database name must be [A-Za-z0-9_]+ (got {self.database!r})")


class Settings(BaseSettings):
    """All of forgood's settings; immutable once read."""

    model_config = SettingsConfigDict(env_prefix="FORGOOD_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    kafka_controller_port: int = Field(
        9094, ge=1, le=65535,
        description="KRaft controller port of the local Kafka (`forgood stack`), on the bootstrap host.",
    )
    kafka_heap_mb: int = Field(512, ge=128, description="JVM heap of the local Kafka (`forgood stack`), MiB.")
    kafka_home: Path = Field(
        Path("~/.cache/forgood"),
        description="Where `make setup` resolves Apache Kafka's jars (kafka-<version>/libs).",
    )
    clickhouse_url: str = Field(
        "clickhouse://127.0.0.1:9000/forgood",
        description="ClickHouse native-protocol URL; the path names the database.",
    )
    clickhouse_http_port: int = Field(8123, description="HTTP port of the local ClickHouse (`forgood stack`).")
    topic_prefix: str = Field(
        "", description="Prefix for every internal topic (not for the source topics or their dead letters)."
    )
    video_topic: str = Field("video-created", description="Source topic of video-created events.")
    status_topic: str = Field("video-status", description="Source topic of video-status events (removed/restored).")
    stats_topic: str = Field("video-stats", description="Source topic of video-stats events (engagement snapshots).")
    pending_ttl_s: int = Field(
        3600, gt=0,
        description="How long a status or stats event for a video not yet seen created is held, seconds "
        "(processing time); then it is dropped and counted.",
    )
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of every topic forgood creates.")
    replication_factor: int = Field(
        1, ge=1, le=32, description="Replicas of every topic forgood creates (3 on a production cluster)."
    )
    app_id: str = Field("forgood", description="Faust application id (consumer group, changelog names).")
    state_dir: Path = Field(Path(".forgood"), description="Local state: stack data, logs, worker tables.")
    campaigns_file: Path = Field(
        Path("campaigns.example.yaml"), description="Campaign file the demo applies."
    )
    metrics_host: str = Field("127.0.0.1", description="Address the /metrics servers bind (0.0.0.0 in containers).")
    worker_metrics_port: int = Field(9464, description="Prometheus /metrics port of the stream worker.")
    sink_metrics_port: int = Field(9465, description="Prometheus /metrics port of the ClickHouse sink.")
    prometheus_port: int = Field(
        9090, ge=1, le=65535, description="HTTP port of the local Prometheus (`forgood stack`), on 127.0.0.1."
    )
    prometheus_scrape_interval_s: int = Field(
        15, ge=1, le=3600, description="How often the local Prometheus scrapes every target, seconds."
    )
    prometheus_evaluation_interval_s: int = Field(
        15, ge=1, le=3600, description="How often the local Prometheus evaluates the alert rules, seconds."
    )
    alertmanager_port: int = Field(
        9093, ge=1, le=65535,
        description="HTTP port of the local Alertmanager (`forgood stack`), on 127.0.0.1; its cluster port is off.",
    )
    alert_webhook_url: str = Field(
        "",
        description="If set, the local Alertmanager delivers every receiver's alerts to this webhook URL "
        "instead of the URLs in deploy/alertmanager/alertmanager.yml.",
    )
    batch_size: int = Field(2000, ge=1, description="Events the stream worker takes per batch.")
    batch_window_s: float = Field(0.1, gt=0, description="Longest wait to fill a worker batch, seconds.")
    producer_max_batch_bytes: int = Field(
        1048576,
        ge=1,
        description="Stream worker's producer batch limit in bytes (records to its internal topics).",
    )
    fetch_max_wait_ms: int = Field(
        500,
        ge=1,
        le=60000,
        description="Longest the sink's fetch waits for data, ms. Kafka answers as soon as data "
        "arrives, so this only bounds an idle fetch.",
    )
    sink_batch_rows: int = Field(5000, ge=1, description="Most rows the sink puts in one INSERT.")
    sink_flush_s: float = Field(0.2, gt=0, description="Longest time the sink holds rows before writing.")
    max_future_skew_s: int = Field(300, ge=0, description="Events dated later than now + this are rejected.")
    session_timeout_s: float = Field(10.0, gt=0, description="Kafka consumer-group session timeout.")
    log_level: str = Field("INFO", description="Log level of every process.")

    @field_validator("clickhouse_url")
    @classmethod
    def _valid_clickhouse_url(cls, value: str) -> str:
        ClickHouseTarget(value)
        return value

    @field_validator("status_topic", "stats_topic")
    @classmethod
    def _distinct_source_topics(cls, value: str, info: ValidationInfo) -> str:
        earlier = [info.data.get(name) for name in ("video_topic", "status_topic") if name != info.field_name]
        if value in earlier:
            raise ValueError(f"{value!r} is already another source topic: each source needs its own")
        return value

    @property
    def clickhouse(self) -> ClickHouseTarget:
        return ClickHouseTarget(self.clickhouse_url)

    def as_env(self) -> dict[str, str]:
        """These settings as ``FORGOOD_*`` variables: what makes a child process see them."""
        return {f"FORGOOD_{name.upper()}": str(value) for name, value in self.model_dump().items()}

    def topic(self, name: str) -> str:
        """Full name of an internal topic (campaigns, repartition, aggregates, changelogs)."""
        return f"{self.topic_prefix}{name}"

    @property
    def campaigns_topic(self) -> str:
        return self.topic("forgood-campaigns")

    @property
    def campaign_videos_topic(self) -> str:
        return self.topic("forgood-campaign-videos")

    @property
    def totals_topic(self) -> str:
        return self.topic("forgood-campaign-totals")

    @property
    def minutes_topic(self) -> str:
        return self.topic("forgood-campaign-minutes")

    @property
    def video_rows_topic(self) -> str:
        """Per-video audit rows (:class:`~forgood.domain.records.CampaignVideoRows`), stream to sink."""
        return self.topic("forgood-campaign-video-rows")

    @property
    def changes_topic(self) -> str:
        """Applied changes of campaign terms (:class:`~forgood.domain.records.CampaignChange`), CLI to sink."""
        return self.topic("forgood-campaign-changes")

    @property
    def dlq_topic(self) -> str:
        return f"{self.video_topic}.dlq"

    @property
    def status_dlq_topic(self) -> str:
        """Dead letters of ``status_topic``: every source topic has its own, ``<name>.dlq``."""
        return f"{self.status_topic}.dlq"

    @property
    def stats_dlq_topic(self) -> str:
        return f"{self.stats_topic}.dlq"

    @property
    def source_topics(self) -> tuple[str, str, str]:
        """The three source topics, keyed and co-partitioned by ``video_id``: created, status, stats."""
        return (self.video_topic, self.status_topic, self.stats_topic)

    def dlq_topic_for(self, source: str) -> str:
        """The dead-letter topic of source topic ``source``; ValueError for another topic."""
        if source not in self.source_topics:
            raise ValueError(f"{source!r} is not a source topic ({', '.join(self.source_topics)})")
        return f"{source}.dlq"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process and return the same frozen object after."""
    return Settings()

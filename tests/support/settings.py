"""Settings in a namespace of their own on the shared local stack."""

from __future__ import annotations

import uuid
from pathlib import Path

from forgood.domain.settings import Settings


def namespaced(base: Settings, state_dir: Path, tag: str = "t", **overrides) -> Settings:
    """``base`` with unique topics (prefix), app id (consumer groups) and ClickHouse database,
    its own ``state_dir``, 4 partitions, ephemeral metrics ports and a 6 s session timeout;
    then ``overrides``. ``tag`` starts the namespace's id (``t`` for tests, ``f`` for faults)."""
    rid = tag + uuid.uuid4().hex[:10]
    return base.model_copy(
        update={
            "topic_prefix": f"{rid}-",
            "video_topic": f"{rid}-video-created",
            "status_topic": f"{rid}-video-status",
            "stats_topic": f"{rid}-video-stats",
            "app_id": f"forgood-{rid}",
            "clickhouse_url": base.clickhouse_url.rsplit("/", 1)[0] + f"/forgood_{rid}",
            "state_dir": state_dir,
            "partitions": 4,
            "worker_metrics_port": 0,
            "sink_metrics_port": 0,
            "session_timeout_s": 6.0,
            **overrides,
        }
    )

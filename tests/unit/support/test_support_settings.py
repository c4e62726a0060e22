"""tests.support.settings.namespaced: what make_settings / run_settings hand to each test."""

from pathlib import Path

from forgood.domain.settings import Settings
from tests.support.settings import namespaced


def test_each_namespace_is_unique_and_overrides_apply_last(tmp_path: Path):
    base = Settings()
    a = namespaced(base, tmp_path / "a")
    b = namespaced(base, tmp_path / "b", tag="f", partitions=2, session_timeout_s=9.0)
    for s in (a, b):
        rid = s.topic_prefix.rstrip("-")
        assert s.video_topic == f"{rid}-video-created" and s.app_id == f"forgood-{rid}"
        assert s.clickhouse.database == f"forgood_{rid}"
        assert s.kafka_bootstrap == base.kafka_bootstrap and s.worker_metrics_port == s.sink_metrics_port == 0
    assert a.topic_prefix != b.topic_prefix and a.clickhouse.database != b.clickhouse.database
    assert a.topic_prefix.startswith("t") and b.topic_prefix.startswith("f")
    assert (a.state_dir, a.partitions, a.session_timeout_s) == (tmp_path / "a", 4, 6.0)
    assert (b.state_dir, b.partitions, b.session_timeout_s) == (tmp_path / "b", 2, 9.0)

"""forgood.domain.topics: the topic list (no broker needed)."""

from __future__ import annotations

from forgood.domain.settings import Settings
from forgood.domain.topics import pipeline_topics, video_event_topics


def test_video_event_topics_are_co_partitioned_with_video_created():
    for partitions in (1, 4, 8):
        s = Settings(partitions=partitions)
        specs = {t.name: t for t in video_event_topics(s)}
        created = {t.name: t for t in pipeline_topics(s)}[s.video_topic]
        assert list(specs) == ["video-status", "video-status.dlq", "video-stats", "video-stats.dlq"]
        assert {t.partitions for t in specs.values()} == {created.partitions} == {partitions}
        assert not any(t.compacted for t in specs.values())  # events, not state: never compacted


def test_video_event_topics_follow_the_settings():
    s = Settings(status_topic="removals", stats_topic="engagement", topic_prefix="x-")
    assert [t.name for t in video_event_topics(s)] == ["removals", "removals.dlq", "engagement", "engagement.dlq"]


def test_pipeline_topics_create_all_three_sources_and_their_dead_letter_topics():
    s = Settings()
    assert [t.name for t in pipeline_topics(s)] == [
        "video-created", "video-created.dlq", "video-status", "video-status.dlq", "video-stats",
        "video-stats.dlq", "forgood-campaigns", "forgood-campaign-videos",
        "forgood-campaign-totals", "forgood-campaign-minutes", "forgood-campaign-video-rows",
        "forgood-campaign-changes"]

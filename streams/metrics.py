"""Prometheus metrics of the stream worker (served on ``FORGOOD_WORKER_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_CONSUMED = Counter("forgood_events_consumed_total", "video-created events read from Kafka.")
EVENTS_VALID = Counter("forgood_events_valid_total", "Events that passed validation.")
EVENTS_DEAD_LETTERED = Counter(
    "forgood_events_dead_lettered_total", "Events sent to the dead-letter topic.", ["reason"]
)
EVENTS_UNMATCHED = Counter(
    "forgood_events_unmatched_total", "Valid events whose hashtags and time matched no campaign."
)
CAMPAIGN_VIDEOS_MATCHED = Counter(
    "forgood_campaign_videos_matched_total", "(campaign, video) pairs forwarded for counting."
)
CAMPAIGN_VIDEOS_COUNTED = Counter(
    "forgood_campaign_videos_counted_total", "(campaign, video) pairs counted for the first time."
)
CAMPAIGN_VIDEOS_DUPLICATE = Counter(
    "forgood_campaign_videos_duplicate_total", "(campaign, video) pairs already counted (ignored)."
)
AGGREGATES_PUBLISHED = Counter(
    "forgood_aggregates_published_total", "Aggregate rows published for the sink.", ["kind"]
)
CAMPAIGNS_LOADED = Gauge("forgood_campaigns_loaded", "Campaigns this worker knows.")
CAMPAIGN_REGISTRY_REVISION = Gauge(
    "forgood_campaign_registry_revision", "Campaign records this worker has applied."
)

"""Prometheus metrics of the stream worker (served on ``FORGOOD_WORKER_METRICS_PORT``).

Faust's own sensor (``faust.sensors.prometheus``) is installed too, under the prefix
``faust_``: messages received/sent per topic, event runtimes, commit and send latencies,
table operations, rebalances. What it lacks is defined here: validation outcomes,
per-campaign progress (labels bounded by the number of campaigns; only the campaign's
current owner reports it), freshness, and consumer lag computed from fetch highwaters.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "forgood_events_consumed_total",
    "Source events (created, status, stats) read from Kafka, by source topic.",
    ["topic"],
)
EVENTS_VALID = Counter("forgood_events_valid_total", "Source events that passed validation.")
EVENTS_DEAD_LETTERED = Counter(
    "forgood_events_dead_lettered_total",
    "Events sent to their source topic's dead-letter topic, by reason and source topic.",
    ["reason", "topic"],
)
PENDING_HELD = Gauge(
    "forgood_pending_events",
    "Status and stats events held because their video was not seen created yet.",
)
PENDING_EXPIRED = Counter(
    "forgood_pending_events_expired_total",
    "Held status and stats events dropped because their video did not arrive within FORGOOD_PENDING_TTL_S.",
)
EVENTS_UNMATCHED = Counter(
    "forgood_events_unmatched_total", "Valid events whose hashtags and time matched no campaign."
)
CAMPAIGN_VIDEOS_MATCHED = Counter(
    "forgood_campaign_videos_matched_total", "(campaign, video) pairs forwarded for counting."
)
CAMPAIGN_VIDEOS_COUNTED = Counter(
    "forgood_campaign_videos_counted_total", "(campaign, video) pairs seen by the owner for the first time."
)
CAMPAIGN_VIDEOS_DUPLICATE = Counter(
    "forgood_campaign_videos_duplicate_total",
    "Forwarded (campaign, video) states that changed nothing (re-deliveries, older snapshots).",
)
AGGREGATES_PUBLISHED = Counter(
    "forgood_aggregates_published_total", "Aggregate rows published for the sink.", ["kind"]
)
AUDIT_ROWS_PUBLISHED = Counter(
    "forgood_audit_rows_published_total",
    "Per-video audit rows published for the sink (campaign_videos): by the owners, one per video "
    "named in a forwarded record, and by the matching stage, one per outside-window match.",
)
OFFSET_JUMPS = Counter(
    "forgood_offset_jumps_total",
    "Fetched offsets that jumped past unread ones; each triggers a seek back (streams.faust_patches.offset_jumps).",
)
UNDECODABLE_BATCHES = Counter(
    "forgood_undecodable_batches_total",
    "Record batches skipped because they cannot be decoded (codec library missing, unknown codec, "
    "corrupt compressed bytes); their events are NOT counted (streams.faust_patches.undecodable_batches).",
    ["topic", "reason"],
)
UNDECODABLE_RECORDS = Counter(
    "forgood_undecodable_records_total",
    "Records (offsets) in skipped undecodable batches: events not counted (streams.faust_patches.undecodable_batches).",
    ["topic"],
)
BATCHES_PROCESSED = Counter("forgood_batches_processed_total", "Batches processed.", ["agent"])
LAST_BATCH = Gauge(
    "forgood_last_batch_timestamp_seconds", "Wall-clock time the agent last finished a batch.", ["agent"]
)
CAMPAIGNS_LOADED = Gauge("forgood_campaigns_loaded", "Campaigns this worker knows.")
CAMPAIGN_REGISTRY_REVISION = Gauge(
    "forgood_campaign_registry_revision", "Campaign records this worker has applied."
)
EVENT_TO_COUNTED = Histogram(
    "forgood_event_to_counted_seconds",
    "Seconds from a video's created_at to its first count.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)

# Per-campaign progress, reported by the campaign's owner only.
CAMPAIGN_VIDEOS = Gauge(
    "forgood_campaign_videos", "Videos counted for the campaign (matched and not removed).", ["campaign"]
)
CAMPAIGN_PARTICIPANTS = Gauge(
    "forgood_campaign_participants", "Distinct creators with at least one counted video.", ["campaign"]
)
CAMPAIGN_REMOVED = Gauge(
    "forgood_campaign_videos_removed", "Videos matched to the campaign whose state is removed.", ["campaign"]
)
CAMPAIGN_ENGAGEMENT = Gauge(
    "forgood_campaign_engagement",
    "Sum over the campaign's counted videos of their latest views, likes, shares or comments (kind).",
    ["campaign", "kind"],
)
CAMPAIGN_DONATION = Gauge(
    "forgood_campaign_donation_raised_minor",
    "Donation raised, in the currency's minor units.",
    ["campaign", "currency"],
)
CAMPAIGN_CAP = Gauge(
    "forgood_campaign_donation_cap_minor", "Donation cap in minor units (absent when uncapped).",
    ["campaign", "currency"],
)
CAMPAIGN_GOAL = Gauge("forgood_campaign_goal_videos", "Goal in videos (absent when none).", ["campaign"])
CAMPAIGN_ACTIVE = Gauge(
    "forgood_campaign_active", "1 while now is inside the campaign's window, else 0.", ["campaign"]
)
CAMPAIGN_LAST_COUNTED = Gauge(
    "forgood_campaign_last_counted_timestamp_seconds",
    "Wall-clock time the campaign last counted a new video.",
    ["campaign"],
)

PER_CAMPAIGN = (
    CAMPAIGN_VIDEOS,
    CAMPAIGN_PARTICIPANTS,
    CAMPAIGN_REMOVED,
    CAMPAIGN_ENGAGEMENT,
    CAMPAIGN_DONATION,
    CAMPAIGN_CAP,
    CAMPAIGN_GOAL,
    CAMPAIGN_ACTIVE,
)


def forget_campaigns() -> None:
    """Drop every per-campaign series (on rebalance: ownership may have moved)."""
    for gauge in PER_CAMPAIGN:
        gauge.clear()


def set_or_remove(gauge: Gauge, labels: tuple[str, ...], value: int | None) -> None:
    """Set a gauge's series, or drop it when the campaign no longer has that value."""
    if value is not None:
        gauge.labels(*labels).set(value)
    else:
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)


def batch_done(agent: str) -> None:
    """Count one finished batch of ``agent`` and stamp its time."""
    BATCHES_PROCESSED.labels(agent).inc()
    LAST_BATCH.labels(agent).set_to_current_time()

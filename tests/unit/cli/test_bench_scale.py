"""The scale bench's events and its known answer (forgood.cli.bench_scale), without the stack:
the answer computed from the generator's arithmetic must equal what the written events say,
read back the way the worker reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgood.cli.bench_scale import CAMPAIGN_ID, HASHTAG, Expected, write_events
from forgood.domain.events import parse_video_created
from forgood.domain.video_events import parse_video_stats, parse_video_status

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_known_answer_is_what_the_events_say(tmp_path):
    n = 3_001
    files = write_events(tmp_path, n, NOW)
    skew = timedelta(seconds=0)  # every event is in the past: no skew needed
    created: dict[str, str] = {}
    lines = files["created"][0].read_bytes().splitlines()
    assert len(lines) == files["created"][1] > n  # the re-deliveries
    for line in lines:
        key, value = line.split(b"\t", 1)
        video = parse_video_created(value, now=NOW, max_future_skew=skew)
        assert key.decode() == video.video_id and HASHTAG in video.hashtags
        assert NOW - timedelta(hours=21) <= video.created_at < NOW - timedelta(hours=1)
        created.setdefault(video.video_id, video.creator_id)
    removed = set()
    for line in files["status"][0].read_bytes().splitlines():
        status = parse_video_status(line.split(b"\t", 1)[1], now=NOW, max_future_skew=skew)
        assert status.status == "removed"
        removed.add(status.video_id)
    views = {}
    for line in files["stats"][0].read_bytes().splitlines():
        stats = parse_video_stats(line.split(b"\t", 1)[1], now=NOW, max_future_skew=skew)
        views[stats.video_id] = stats.views
    counted = [v for v in created if v not in removed]
    assert len(created) == n and CAMPAIGN_ID
    assert Expected.of(n) == Expected(
        videos=len(counted),
        creators=len({created[v] for v in counted}),
        removed=len(removed),
        donation_minor=50 * len(counted),
        views=sum(views.get(v, 0) for v in counted),
    )
    assert 0 < Expected.of(n).removed < n // 50 and Expected.of(n).views > 0

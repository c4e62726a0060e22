"""``forgood reconcile`` on the real stack (issue 14): the source topics of a test namespace,
the campaigns topic and ClickHouse 18.16.

Each test sends a mix of events to the three source topics (re-deliveries, bad values, status
events sent before their video, removals, restorations and equal-time ties, snapshots out of
order, events of videos never created, videos outside a window before and after it),
publishes the campaigns, then writes the ClickHouse rows the pipeline would have written —
``campaign_videos`` from this file's own row oracle, ``campaign_totals`` and
``campaign_minutes`` from :func:`tests.support.removals_oracle.oracle` — through the sink.
``forgood reconcile --from-source`` must then exit 0; after one row is corrupted it must exit
1 naming the campaign and the video or figure; a missing video row is named; errors exit 2.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest
from typer.testing import CliRunner

from forgood.audit.reconcile import reconcile
from forgood.cli.cli import app
from forgood.domain.campaigns import load_campaign_file
from forgood.domain.kafka import make_producer
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideoRow
from forgood.domain.settings import Settings, get_settings
from forgood.domain.topics import ensure_topics
from producers.campaigns import publish_campaigns
from producers.sending import SendReport, finish, send_raw
from sinks.clickhouse import ClickHouseSink
from tests.support.eventset import BASE, OracleCampaign, make_campaigns, write_campaigns
from tests.support.removals_oracle import Created, Event, Stats, Status, oracle

pytestmark = pytest.mark.integration

REASONS = ("creator_deleted", "moderation", "fraud", "appeal", "other")  # the schema's order, restated
BAD = {"created": [b"not json at all"],
       "status": [json.dumps({"event_id": "bad", "video_id": "v-0", "status": "paused", "reason": "fraud",
                              "at": BASE.isoformat()}).encode()],
       "stats": [json.dumps({"event_id": "bad", "video_id": "v-0", "views": -1, "likes": 0, "shares": 0,
                             "comments": 0, "observed_at": BASE.isoformat()}).encode()]}


def generate(seed: int, videos: int) -> tuple[list[Created], list[Status], list[Stats]]:
    """Created events (some outside every window, the narrow campaign's window crossed on
    both sides), status events (removals, restorations, equal-time ties, one of a video never
    created) and snapshots (growing, shuffled, equal observation times, one of a video never
    created)."""
    rng = random.Random(seed)
    tags = [t for c in make_campaigns() for t in c.hashtags]
    created, statuses, stats = [], [], []
    for n in range(videos):
        video = f"v-{n}"
        at = BASE + timedelta(minutes=rng.randint(-40, 70), seconds=rng.randint(0, 59),
                              microseconds=rng.choice((0, 0, 999_999, 250_000)))
        if rng.random() < 0.05:
            at -= timedelta(days=2)  # before every window
        created.append(Created(f"e-{n}", video, f"creator-{rng.randrange(videos // 4)}",
                               (rng.choice(tags), rng.choice(("fyp", "#" + rng.choice(tags).upper()))), at))
        if rng.random() < 0.2:
            removed_at = at + timedelta(minutes=rng.randint(1, 30), microseconds=rng.randint(0, 999_999))
            statuses.append(Status(f"s-{n}", video, "removed", rng.choice(REASONS[:3]), removed_at))
            if rng.random() < 0.3:
                statuses.append(Status(f"r-{n}", video, "restored", "appeal", removed_at + timedelta(minutes=5)))
            elif rng.random() < 0.2:  # a tie: removed wins, then the later reason
                statuses.append(Status(f"t-{n}", video, "restored", "other", removed_at))
                statuses.append(Status(f"u-{n}", video, "removed", "other", removed_at))
        if rng.random() < 0.4:
            views = 0
            for k in range(rng.randint(1, 3)):
                views += rng.randint(0, 50_000)
                observed = at + timedelta(minutes=10 * (k + 1))
                stats.append(Stats(f"t-{n}-{k}", video, views, views // 10, views // 100, views // 50, observed))
                if rng.random() < 0.1:  # the same observation time: each counter's maximum
                    stats.append(Stats(f"w-{n}-{k}", video, views // 2, views, 0, views, observed))
    statuses.append(Status("s-ghost", "v-ghost", "removed", "fraud", BASE))
    stats.append(Stats("t-ghost", "v-ghost", 1, 1, 1, 1, BASE))
    rng.shuffle(stats)
    return created, statuses, stats


def row_oracle(created: list[Created], statuses: list[Status], stats: list[Stats],
               campaigns: list[OracleCampaign]) -> dict[tuple[str, str], CampaignVideoRow]:
    """The ``campaign_videos`` rows the rules give, the plainest way (the mix re-delivers
    created events byte for byte, so the first one is the video)."""
    first: dict[str, Created] = {}
    for event in created:
        first.setdefault(event.video_id, event)
    rows = {}
    for video, v in first.items():
        created_s = math.floor(v.created_at.timestamp())
        mine = [s for s in statuses if s.video_id == video]
        latest = max((s.at for s in mine), default=None)
        at_latest = [s for s in mine if s.at == latest]
        removed = any(s.status == "removed" for s in at_latest)
        reasons = [s.reason for s in at_latest if (s.status == "removed") == removed]
        reason = max(reasons, key=REASONS.index) if reasons else ""
        snaps = [s for s in stats if s.video_id == video]
        last = max((s.observed_at for s in snaps), default=None)
        top = [s for s in snaps if s.observed_at == last]
        engagement = [max((getattr(s, k) for s in top), default=0) for k in ("views", "likes", "shares", "comments")]
        for c in campaigns:
            if not {t.lower() for t in c.hashtags} & {t.lstrip("#").lower() for t in v.hashtags}:
                continue
            if c.starts_at <= v.created_at < c.ends_at:
                status_at = created_s if latest is None else math.floor(latest.timestamp())
                row = (c.id, video, v.creator_id, created_s, created_s - created_s % 60,
                       "removed" if removed else "counted", status_at, reason, *engagement)
            else:
                row = (c.id, video, v.creator_id, created_s, created_s - created_s % 60, "outside_window", created_s,
                       "before_start" if v.created_at < c.starts_at else "after_end", 0, 0, 0, 0)
            rows[(c.id, video)] = CampaignVideoRow(*row, version=1)
    return rows


def with_redeliveries(events: list[Event], rng: random.Random) -> list[bytes]:
    out = [e.to_json() for e in events]
    for raw in rng.sample(out, len(out) // 10):
        out.insert(rng.randint(0, len(out)), raw)
    return out


def send(settings: Settings, topic: str, lines: list[bytes]) -> None:
    producer = make_producer(settings)
    report = SendReport()
    for raw in lines:
        send_raw(producer, topic, raw, report)
    finish(producer, report)


class Mix:
    """One namespace's mix: sent to its source topics, its campaigns published, and what
    ClickHouse must hold by the oracles."""

    def __init__(self, settings: Settings, tmp_path, seed: int = 14, videos: int = 160) -> None:
        self.settings = settings
        self.campaigns = make_campaigns()
        created, statuses, stats = generate(seed, videos)
        self.rows = row_oracle(created, statuses, stats, self.campaigns)
        self.totals, self.minutes = oracle([*created, *statuses, *stats], self.campaigns)
        kinds = {r.status for r in self.rows.values()}
        reasons = {r.reason for r in self.rows.values()}
        assert kinds == {"counted", "removed", "outside_window"}, kinds
        assert {"before_start", "after_end", "appeal"} <= reasons, reasons
        ensure_topics(settings)  # the source topics co-partitioned, as the pipeline has them
        rng = random.Random(seed)
        for topic, events, kind in ((settings.status_topic, statuses[: len(statuses) // 2], "status"),
                                    (settings.video_topic, created, "created"),
                                    (settings.stats_topic, stats, "stats"),
                                    (settings.status_topic, statuses[len(statuses) // 2:], "status")):
            lines = with_redeliveries(list(events), rng)
            lines.insert(rng.randint(0, len(lines)), BAD[kind][0])
            send(settings, topic, lines)
        publish_campaigns(settings, load_campaign_file(write_campaigns(tmp_path, self.campaigns)))
        self.sink = ClickHouseSink(settings)
        self.sink.start()

    def write(self, leave_out: tuple[str, str] | None = None) -> None:
        """The pipeline's rows, as the sink writes them (``leave_out``: a (campaign, video) not written)."""
        now = int(time.time())
        currency = {c.id: c.currency for c in self.campaigns}
        for key, row in self.rows.items():
            if key != leave_out:
                self.sink.add(row)
        for cid, t in self.totals.items():
            self.sink.add(CampaignTotal(cid, t["videos"], t["creators"], t["donation_minor"], currency[cid], now, 1,
                                        t["removed"], t["views"], t["likes"], t["shares"], t["comments"]))
        for (cid, minute), (videos, donation) in self.minutes.items():
            self.sink.add(CampaignMinute(cid, minute, videos, donation, 1))
        self.sink.flush()

    def counted(self, cid: str) -> CampaignVideoRow:
        return next(r for (c, _), r in sorted(self.rows.items()) if c == cid and r.status == "counted")


@pytest.fixture
def cli(monkeypatch):
    """``forgood ...`` in-process with a test's settings in the environment."""
    runner = CliRunner()

    def invoke(settings: Settings, *args: str):
        for name, value in settings.as_env().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args))
        finally:
            get_settings.cache_clear()

    return invoke


def flat(output: str) -> str:
    return " ".join(output.split())


def test_reconcile_passes_on_the_pipelines_rows_and_names_one_corrupted_row(run_settings, clickhouse, tmp_path, cli):
    mix = Mix(run_settings, tmp_path)
    mix.write()

    result = cli(run_settings, "reconcile", "--from-source")
    assert result.exit_code == 0, result.output
    assert "DIFFERS" not in result.output and "Traceback" not in result.output
    agree = f"all {len(mix.campaigns)} campaign(s) agree with campaign_videos and the source topics"
    assert agree in flat(result.output)
    checked = reconcile(run_settings, from_source=True)
    assert checked.ok and [c.campaign_id for c in checked.campaigns] == sorted(c.id for c in mix.campaigns)
    summary = checked.source_summary
    assert summary is not None
    assert summary["bad"] == {"created/not_json": 1, "stats/negative_count": 1, "status/unknown_status": 2}
    assert summary["ignored"] >= 2 and summary["rows"] == len(mix.rows)
    for c in checked.campaigns:  # every figure, three ways
        assert c.totals == c.rows == c.source
        assert c.totals.to_json() == mix.totals[c.campaign_id]

    # one corrupted row: a newer version of a counted video, removed
    row = mix.counted("plain-usd")
    mix.sink.add(replace(row, status="removed", version=2))
    mix.sink.flush()
    result = cli(run_settings, "reconcile", "--from-source")
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert f"plain-usd: video {row.video_id}: campaign_videos says status=removed, source says counted" in text
    want = mix.totals["plain-usd"]["videos"]
    assert (f"plain-usd: totals: campaign_totals says videos={want}, campaign_videos (recounted) says {want - 1}"
            in text)
    assert "DIFFERS" in text and "Traceback" not in text
    # without the source, the recount of the rows alone disagrees with the totals
    result = cli(run_settings, "reconcile")
    assert result.exit_code == 1 and f"plain-usd: totals: campaign_totals says videos={want}" in flat(result.output)
    # another campaign alone still agrees
    assert cli(run_settings, "reconcile", "--campaign", "capped-gbp", "--from-source").exit_code == 0

    # the row put back, then one totals figure changed
    mix.sink.add(replace(row, version=3))
    mix.sink.flush()
    assert cli(run_settings, "reconcile", "--from-source").exit_code == 0
    total = mix.totals["capped-gbp"]
    mix.sink.add(CampaignTotal("capped-gbp", total["videos"], total["creators"], total["donation_minor"] + 1, "GBP",
                               int(time.time()), 2, total["removed"], total["views"], total["likes"], total["shares"],
                               total["comments"]))
    mix.sink.flush()
    result = cli(run_settings, "reconcile", "--from-source", "--json")
    assert result.exit_code == 1, result.output
    answer = orjson.loads(result.output)
    assert answer["ok"] is False and answer["from_source"] is True
    differing = [c for c in answer["campaigns"] if not c["ok"]]
    assert [c["campaign_id"] for c in differing] == ["capped-gbp"]
    assert {d["text"] for d in differing[0]["differences"]} == {
        f"capped-gbp: totals: campaign_totals says donation_minor={total['donation_minor'] + 1}, {side} says "
        f"{total['donation_minor']}" for side in ("campaign_videos (recounted)", "source")}


def test_a_video_missing_from_campaign_videos_is_named(run_settings, clickhouse, tmp_path, cli):
    mix = Mix(run_settings, tmp_path, seed=15, videos=80)
    row = mix.counted("shared-jpy")
    mix.write(leave_out=("shared-jpy", row.video_id))
    result = cli(run_settings, "reconcile", "--from-source")
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert f"shared-jpy: video {row.video_id}: campaign_videos has no row, source says status=counted" in text
    assert "shared-jpy: totals: campaign_totals says videos=" in text
    checked = reconcile(run_settings, "shared-jpy", from_source=True)
    assert not checked.ok and {d.subject for d in checked.differences if d.kind == "video"} == {row.video_id}


def test_an_unreachable_or_empty_server_is_a_clear_error(run_settings, clickhouse, cli):
    ensure_topics(run_settings)
    result = cli(run_settings, "reconcile")  # the sink never ran: no database
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert run_settings.clickhouse.database in flat(result.output)

    down = run_settings.model_copy(update={"clickhouse_url": "clickhouse://127.0.0.1:1/forgood"})
    result = cli(down, "reconcile")
    assert result.exit_code == 2 and "error: ClickHouse at 127.0.0.1:1" in flat(result.output), result.output

    no_kafka = run_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    result = cli(no_kafka, "reconcile", "--from-source")
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output and "127.0.0.1:1" in result.output

    ClickHouseSink(run_settings).start()  # the schema, empty
    assert cli(run_settings, "reconcile").exit_code == 0  # no campaign anywhere: nothing differs
    result = cli(run_settings, "reconcile", "--campaign", "nope")
    assert result.exit_code == 2 and "no campaign 'nope'" in flat(result.output), result.output


def test_forgood_video_answers_each_status_as_the_audit_trail_says(run_settings, clickhouse, tmp_path, cli):
    mix = Mix(run_settings, tmp_path, seed=15, videos=80)
    mix.write()
    by_status = {}
    for _key, row in sorted(mix.rows.items()):
        by_status.setdefault(row.status, row)
    assert set(by_status) == {"counted", "removed", "outside_window"}
    for status, row in by_status.items():
        result = cli(run_settings, "video", row.campaign_id, row.video_id, "--json")
        assert result.exit_code == 0, result.output
        assert orjson.loads(result.output) == {
            "campaign_id": row.campaign_id, "video_id": row.video_id, "status": status,
            "minute": _iso(row.created_at - row.created_at % 60), "status_at": _iso(row.status_at),
            "reason": row.reason or None}
        shown = cli(run_settings, "video", row.campaign_id, row.video_id)
        assert shown.exit_code == 0 and row.creator_id not in shown.output, shown.output
        assert f"status {status}" in flat(shown.output) and f"video_id {row.video_id}" in flat(shown.output)
    unknown = cli(run_settings, "video", "plain-usd", "v-never", "--json")
    assert unknown.exit_code == 0 and orjson.loads(unknown.output) == {
        "campaign_id": "plain-usd", "video_id": "v-never", "status": "unknown", "minute": None, "status_at": None,
        "reason": None}
    assert "Not found for this campaign" in cli(run_settings, "video", "plain-usd", "v-never").output
    result = cli(run_settings, "video", "nope", "v-1")
    assert result.exit_code == 2 and "error: no campaign 'nope'" in flat(result.output), result.output
    down = run_settings.model_copy(update={"clickhouse_url": "clickhouse://127.0.0.1:1/forgood"})
    result = cli(down, "video", "plain-usd", "v-1")
    assert result.exit_code == 2 and "error: ClickHouse at 127.0.0.1:1" in flat(result.output), result.output
    assert "Traceback" not in result.output


def _iso(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""The counter service's HTTP API against an in-memory state (no Kafka, no ClickHouse).

aiohttp's own TestServer/TestClient run the real application inside ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from forgood.domain.campaigns import parse_campaigns
from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.serve.api import make_app
from forgood.serve.openapi import OPENAPI
from forgood.serve.state import CounterState, Removed

NOW = datetime(2026, 11, 24, 12, 30, 30, tzinfo=UTC).timestamp()
MINUTE = int(NOW) // 60 * 60  # 12:30:00
V = 1_795_000_000_000_000_000  # a realistic nanosecond version (> 2**53)

CAMPAIGNS = parse_campaigns({"campaigns": [
    {"id": "red-nose-day-2026", "name": "Red Nose Day", "nonprofit": "Comic Relief", "hashtags": ["RedNoseDay"],
     "donation_per_video": "2.00", "currency": "USD", "starts_at": "2026-11-01T00:00:00Z",
     "ends_at": "2027-01-01T00:00:00Z", "donation_cap": "1000.00", "goal_videos": 1000},
    {"id": "music-shaped-me", "name": "#MusicShapedMe", "nonprofit": "Youth Music", "hashtags": ["MusicShapedMe"],
     "donation_per_video": "0.50", "currency": "GBP", "starts_at": "2026-11-01T00:00:00Z",
     "ends_at": "2027-03-01T00:00:00Z"},
    {"id": "yen-drive", "name": "Yen Drive", "nonprofit": "Tokyo Aid", "hashtags": ["YenDrive"],
     "donation_per_video": "10", "currency": "JPY", "starts_at": "2026-12-01T00:00:00Z",
     "ends_at": "2027-01-01T00:00:00Z"},
]})

REQUIRED = {
    "id", "videos", "creators", "donation_minor", "currency", "name", "nonprofit", "raised", "donation_cap_minor",
    "goal_videos", "percent_of_cap", "percent_of_goal", "starts_at", "ends_at", "updated_at", "version",
    "videos_per_minute", "removed", "views", "likes", "shares", "comments",
}


def make_state(ready: bool = True) -> CounterState:
    state = CounterState(clock=lambda: NOW)
    state.apply(CAMPAIGNS)
    state.apply([
        CampaignTotal("red-nose-day-2026", 123, 45, 24_600, "USD", int(NOW) - 5, V,
                      removed=4, views=81_000_000, likes=2**53 + 1, shares=1_234, comments=567),
        CampaignTotal("music-shaped-me", 3, 2, 150, "GBP", int(NOW) - 60, V - 7),
        CampaignMinute("red-nose-day-2026", MINUTE, 20, 4_000, V),
        CampaignMinute("red-nose-day-2026", MINUTE - 60, 103, 20_600, V),
        CampaignMinute("red-nose-day-2026", MINUTE - 60 * 60, 999, 0, V),  # 61 minutes ago: outside the hour
    ])
    state.ready = ready
    return state


@asynccontextmanager
async def client_for(state: CounterState, heartbeat_s: float = 15.0):
    async with TestClient(TestServer(make_app(state, heartbeat_s=heartbeat_s))) as client:
        yield client


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


async def next_frame(response) -> dict:
    """The next SSE frame as {"event": ..., "id": ..., "data": parsed JSON} (comments skipped)."""
    while True:
        raw = await asyncio.wait_for(response.content.readuntil(b"\n\n"), timeout=5)
        fields: dict = {}
        for line in raw.decode().splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            fields["data"] = orjson.loads(fields["data"])
            return fields


# --- JSON ------------------------------------------------------------------------------------

def test_list_has_every_campaign_with_the_documented_fields():
    async def go():
        async with client_for(make_state()) as client:
            resp = await client.get("/api/campaigns")
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = await resp.json()
            ids = [c["id"] for c in body["campaigns"]]
            assert ids == ["music-shaped-me", "red-nose-day-2026", "yen-drive"]
            for c in body["campaigns"]:
                assert set(c) >= REQUIRED, REQUIRED - set(c)
                assert len(c["videos_per_minute"]) == 60
            return {c["id"]: c for c in body["campaigns"]}

    by_id = run(go())
    rnd = by_id["red-nose-day-2026"]
    assert (rnd["videos"], rnd["creators"], rnd["donation_minor"], rnd["currency"]) == (123, 45, 24_600, "USD")
    assert rnd["raised"] == "$246.00"
    assert (rnd["removed"], rnd["views"], rnd["likes"], rnd["shares"], rnd["comments"]) == (
        4, 81_000_000, 2**53 + 1, 1_234, 567)  # exact: 64-bit integers, not floats
    assert rnd["name"] == "Red Nose Day" and rnd["nonprofit"] == "Comic Relief"
    assert rnd["donation_cap_minor"] == 100_000 and rnd["cap"] == "$1,000.00"
    assert rnd["goal_videos"] == 1000
    assert rnd["percent_of_cap"] == 24.6 and rnd["percent_of_goal"] == 12.3
    assert rnd["starts_at"] == "2026-11-01T00:00:00Z" and rnd["ends_at"] == "2027-01-01T00:00:00Z"
    assert rnd["updated_at"] == "2026-11-24T12:30:25Z"
    assert rnd["version"] == V  # exact: a 64-bit integer, not a float
    assert rnd["status"] == "live"
    minutes = rnd["videos_per_minute"]
    assert minutes[-1] == {"minute": "2026-11-24T12:30:00Z", "videos": 20}
    assert minutes[-2] == {"minute": "2026-11-24T12:29:00Z", "videos": 103}
    assert minutes[0]["minute"] == "2026-11-24T11:31:00Z"
    assert sum(m["videos"] for m in minutes) == 123  # the row 60 minutes back is outside the hour

    music = by_id["music-shaped-me"]
    assert music["raised"] == "£1.50" and music["percent_of_cap"] is None and music["percent_of_goal"] is None
    yen = by_id["yen-drive"]  # defined, not counted yet
    assert (yen["videos"], yen["creators"], yen["donation_minor"], yen["version"]) == (0, 0, 0, 0)
    assert (yen["removed"], yen["views"], yen["likes"], yen["shares"], yen["comments"]) == (0, 0, 0, 0, 0)
    assert (music["removed"], music["views"]) == (0, 0)  # a row written before issue 13: zeros
    assert yen["raised"] == "¥0" and yen["currency_digits"] == 0
    assert yen["updated_at"] is None and yen["status"] == "upcoming"


def test_one_campaign_equals_its_list_entry_with_cache_headers_and_etag():
    async def go():
        async with client_for(make_state()) as client:
            listed = {c["id"]: c for c in (await (await client.get("/api/campaigns")).json())["campaigns"]}
            resp = await client.get("/api/campaigns/red-nose-day-2026")
            assert resp.status == 200
            one = await resp.json()
            # the list entry plus the top videos (none here: this app was given no ClickHouse reader)
            assert list(one)[-2:] == ["top_videos", "top_videos_as_of"]
            assert {k: v for k, v in one.items() if not k.startswith("top_videos")} == listed["red-nose-day-2026"]
            assert one["top_videos"] is None and one["top_videos_as_of"] is None
            assert "top_videos" not in listed["red-nose-day-2026"]
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert resp.headers["Cache-Control"] == "public, max-age=1"
            etag = resp.headers["ETag"]
            again = await client.get("/api/campaigns/red-nose-day-2026", headers={"If-None-Match": etag})
            assert again.status == 304 and again.headers["ETag"] == etag
            head = await client.head("/api/campaigns/red-nose-day-2026")
            assert head.status == 200

    run(go())


def test_unknown_and_malformed_ids_are_clear_json_errors():
    async def go():
        async with client_for(make_state()) as client:
            for path in ("/api/campaigns/nope", "/api/campaigns/nope/events"):
                resp = await client.get(path)
                assert resp.status == 404, path
                assert await resp.json() == {"error": "not_found", "message": "no campaign 'nope'"}
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
            for bad in ("Red-Nose", "-dash-first", "x" * 65, "a%20b", "%C3%A9t%C3%A9"):
                for suffix in ("", "/events"):
                    resp = await client.get(f"/api/campaigns/{bad}{suffix}")
                    assert resp.status == 400, bad
                    body = await resp.json()
                    assert body["error"] == "bad_request" and "malformed campaign id" in body["message"]
            resp = await client.get("/api/nothing-here")
            assert resp.status == 404 and (await resp.json())["error"] == "not_found"

    run(go())


class RemovedAfterTheCheck(CounterState):
    """A state whose campaign ``gone`` passes the 404 check and is removed right after it
    (``subscribe`` and ``view`` are what the handlers call between the check and the answer)."""

    def __contains__(self, campaign_id: str) -> bool:
        return campaign_id == "gone" or super().__contains__(campaign_id)


def test_a_campaign_removed_between_the_check_and_the_snapshot_is_a_404():
    async def go():
        state = RemovedAfterTheCheck(clock=lambda: NOW)
        state.apply(CAMPAIGNS)
        state.ready = True
        async with client_for(state) as client:
            for path in ("/api/campaigns/gone", "/api/campaigns/gone/events"):
                resp = await client.get(path)
                assert resp.status == 404, path
                assert resp.content_type == "application/json"
                assert await resp.json() == {"error": "not_found", "message": "no campaign 'gone'"}
            assert state.subscribers == set()  # the stream's subscriber was let go
            ok = await client.get("/api/campaigns/yen-drive/events")
            assert ok.status == 200 and (await next_frame(ok))["event"] == "snapshot"
            ok.close()

    run(go())


def test_views_are_typed_and_serialise_to_the_documented_object_in_order():
    from dataclasses import fields

    from forgood.serve.openapi import _CAMPAIGN
    from forgood.serve.state import CampaignView, MinuteVideos

    state = make_state()
    view = state.view("red-nose-day-2026")
    assert isinstance(view, CampaignView) and isinstance(view.videos_per_minute[-1], MinuteVideos)
    assert state.view("nope") is None
    names = [f.name for f in fields(CampaignView)]
    assert list(orjson.loads(orjson.dumps(view))) == names  # the JSON's keys, in order
    assert names[:2] == ["id", "name"] and names[-2:] == ["version", "videos_per_minute"]
    assert set(names) == set(_CAMPAIGN["properties"]) and set(_CAMPAIGN["required"]) <= set(names)
    assert orjson.dumps(view.videos_per_minute[-1]) == b'{"minute":"2026-11-24T12:30:00Z","videos":20}'
    # a total without a definition: the id stands in for the name, no campaign fields
    state.apply([CampaignTotal("orphan", 1, 1, 5, "EUR", int(NOW), 3)])
    orphan = orjson.loads(orjson.dumps(state.view("orphan")))
    assert orphan["name"] == "orphan" and orphan["hashtags"] == [] and orphan["status"] is None
    assert orphan["raised"] == "€0.05" and orphan["version"] == 3


def test_the_api_is_read_only():
    async def go():
        async with client_for(make_state()) as client:
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                for path in ("/api/campaigns", "/api/campaigns/red-nose-day-2026", "/api/events", "/healthz"):
                    resp = await client.request(method, path, data=b"{}")
                    assert resp.status == 405, (method, path)
                    body = await resp.json()
                    assert body["error"] == "method_not_allowed" and "read-only" in body["message"]
                    assert "GET" in resp.headers["Allow"]
                page = await client.request(method, "/c/red-nose-day-2026")
                assert page.status == 405
            pre = await client.options("/api/campaigns", headers={
                "Origin": "https://example.org", "Access-Control-Request-Method": "GET"})
            assert pre.status == 204
            assert pre.headers["Access-Control-Allow-Origin"] == "*"
            assert "GET" in pre.headers["Access-Control-Allow-Methods"]
            assert "POST" not in pre.headers["Access-Control-Allow-Methods"]

    run(go())


def test_openapi_document_describes_every_endpoint():
    async def go():
        async with client_for(make_state()) as client:
            resp = await client.get("/api/openapi.json")
            assert resp.status == 200 and resp.content_type == "application/json"
            doc = await resp.json()
            assert doc.pop("servers") == [{"url": str(client.make_url("")).rstrip("/")}]
            return doc

    doc = run(go())
    assert doc == {k: v for k, v in orjson.loads(orjson.dumps(OPENAPI)).items() if k != "servers"}
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/api/campaigns", "/api/campaigns/{id}", "/api/campaigns/{id}/events",
                                 "/api/campaigns/{id}/videos/{video_id}", "/api/events", "/api/openapi.json",
                                 "/healthz"}
    for path, item in doc["paths"].items():
        assert set(item) == {"get"}, path
    assert set(doc["components"]["schemas"]["Campaign"]["properties"]) >= REQUIRED
    # every $ref resolves
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]


def test_health_and_not_ready():
    async def go():
        state = make_state(ready=False)
        async with client_for(state) as client:
            resp = await client.get("/healthz")
            assert resp.status == 503 and (await resp.json())["status"] == "starting"
            api = await client.get("/api/campaigns")
            assert api.status == 503 and (await api.json())["error"] == "not_ready"
            assert api.headers["Retry-After"] == "1"
            state.ready = True
            resp = await client.get("/healthz")
            assert resp.status == 200
            body = await resp.json()
            assert body["status"] == "ok" and body["campaigns"] == 3

    run(go())


def test_pages_and_static_files():
    async def go():
        async with client_for(make_state()) as client:
            for path, marker in (("/", "data-overview"), ("/c/red-nose-day-2026", "data-chart"),
                                 ("/embed/red-nose-day-2026", 'class="embed"')):
                resp = await client.get(path)
                assert resp.status == 200, path
                assert resp.content_type == "text/html"
                assert marker in await resp.text()
            for name in ("style.css", "common.js", "counter.js", "overview.js", "theme.js"):
                resp = await client.get(f"/static/{name}")
                assert resp.status == 200, name
                assert "max-age" in resp.headers["Cache-Control"]
            assert (await client.get("/c/Not_Valid!")).status == 404
            assert (await client.get("/static/../settings.py")).status in (403, 404)

    run(go())


# --- Server-Sent Events ----------------------------------------------------------------------

def test_campaign_stream_sends_a_snapshot_then_each_newer_change():
    async def go():
        state = make_state()
        async with client_for(state) as client:
            resp = await client.get("/api/campaigns/red-nose-day-2026/events")
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert resp.headers["Cache-Control"] == "no-cache"
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            first = await next_frame(resp)
            assert first["event"] == "snapshot" and first["id"] == str(V)
            assert first["data"]["videos"] == 123 and first["data"]["version"] == V

            # An older version is ignored; another campaign's change is not sent here.
            assert not state.apply([CampaignTotal("red-nose-day-2026", 1, 1, 200, "USD", int(NOW), V - 1)])
            state.apply([CampaignTotal("music-shaped-me", 4, 2, 200, "GBP", int(NOW), V + 5)])
            state.apply([CampaignTotal("red-nose-day-2026", 124, 46, 24_800, "USD", int(NOW), V + 10),
                         CampaignMinute("red-nose-day-2026", MINUTE, 21, 4_200, V + 10)])
            update = await next_frame(resp)
            assert update["event"] == "update" and update["id"] == str(V + 10)
            data = update["data"]
            assert (data["videos"], data["creators"], data["donation_minor"]) == (124, 46, 24_800)
            assert data["raised"] == "$248.00" and data["videos_per_minute"][-1]["videos"] == 21
            assert state.stale_ignored == 1

            # A video removed: every figure that follows it goes down, in the next update.
            state.apply([CampaignTotal("red-nose-day-2026", 123, 45, 24_600, "USD", int(NOW), V + 11,
                                       removed=5, views=80_000_000, likes=9, shares=8, comments=7)])
            down = (await next_frame(resp))["data"]
            assert (down["videos"], down["creators"], down["donation_minor"], down["raised"]) == (
                123, 45, 24_600, "$246.00")
            assert (down["removed"], down["views"], down["likes"], down["shares"], down["comments"]) == (
                5, 80_000_000, 9, 8, 7)
            resp.close()

    run(go())


def test_all_campaigns_stream_snapshot_updates_and_removal():
    async def go():
        state = make_state()
        async with client_for(state, heartbeat_s=0.2) as client:
            resp = await client.get("/api/events")
            assert resp.status == 200
            first = await next_frame(resp)
            assert first["event"] == "snapshot"
            ids = [c["id"] for c in first["data"]["campaigns"]]
            assert ids == ["music-shaped-me", "red-nose-day-2026", "yen-drive"]
            raw = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), timeout=5)
            assert raw == b": keep-alive\n\n"  # silence is filled with comments
            state.apply([CampaignTotal("yen-drive", 1, 1, 10, "JPY", int(NOW), V)])
            update = await next_frame(resp)
            assert update["event"] == "update" and update["data"]["id"] == "yen-drive"
            assert update["data"]["raised"] == "¥10"
            state.apply([Removed("yen-drive")])
            # its total remains (ClickHouse keeps it too), so it is still listed, as an update
            still = await next_frame(resp)
            assert still["event"] == "update" and still["data"]["name"] == "yen-drive"
            state.totals.pop("music-shaped-me")
            state.apply([Removed("music-shaped-me")])
            gone = await next_frame(resp)
            assert gone == {"event": "removed", "data": {"id": "music-shaped-me"}}
            assert len(state.subscribers) == 1
            resp.close()

    run(go())


# --- versions --------------------------------------------------------------------------------

def test_the_highest_version_wins_whatever_the_arrival_order():
    rows = [CampaignTotal("c", n, n, n * 10, "USD", 1_000 + n, V + n) for n in range(10)]
    minutes = [CampaignMinute("c", MINUTE, n, n, V + n) for n in range(10)]
    for order in (rows, rows[::-1], rows[3:] + rows[:3]):
        state = CounterState(clock=lambda: NOW)
        state.apply(order)
        state.apply(minutes[::-1])
        assert state.totals["c"] == rows[-1]
        assert state.minutes["c"][MINUTE] == minutes[-1]
    state = CounterState(clock=lambda: NOW)
    assert state.apply([rows[5]]) == {"c"}
    assert state.apply([rows[5]]) == set()  # the same row again changes nothing
    assert state.apply([rows[4]]) == set()  # an older one neither
    assert state.totals["c"].videos == 5


def test_subscribers_coalesce_changes_and_old_minutes_are_forgotten():
    state = CounterState(clock=lambda: NOW)
    sub = state.subscribe("c")
    other = state.subscribe()
    for n in range(100):
        state.apply([CampaignTotal("c", n, n, n, "USD", 0, V + n)])
    state.apply([CampaignTotal("d", 1, 1, 1, "USD", 0, V)])
    assert sub.take() == ["c"] and other.take() == ["c", "d"]
    assert not sub.wake.is_set()
    assert not state.apply([CampaignMinute("c", MINUTE - 121 * 60, 5, 5, V)])
    state.apply([CampaignMinute("c", MINUTE - 119 * 60, 5, 5, V)])
    state.clock = lambda: NOW + 3600
    state.prune()
    assert state.minutes["c"] == {}
    state.unsubscribe(sub)
    assert state.subscribers == {other}


@pytest.mark.parametrize("raw", [b"not json", b'{"campaign_id": 1}'])
def test_unreadable_records_are_skipped(raw):
    from forgood.domain.settings import Settings
    from forgood.serve.sources import decode

    settings = Settings()
    assert decode(settings, settings.totals_topic, b"k", raw) is None
    assert decode(settings, settings.campaigns_topic, b"gone", None) == Removed("gone")

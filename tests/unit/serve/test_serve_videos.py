""""Did my video count?" and top videos through the counter service's HTTP API.

The real application (aiohttp's TestServer) with the real :class:`VideoReader` reading a real
current ClickHouse in-process (chdb, behind clickhouse-driver's interface) that holds the
scenario of ``tests/unit/audit/test_lookup.py``; unreachable and hung ClickHouse servers are
real sockets (a closed port; a port that accepts and never answers) reached by the real
clickhouse-driver. Expected answers are the scenario's hand-written ones and its oracle.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from clickhouse_driver import Client

from forgood.domain.campaigns import parse_campaigns
from forgood.domain.events import MAX_ID_LENGTH
from forgood.serve.api import make_app
from forgood.serve.openapi import OPENAPI
from forgood.serve.state import CounterState
from forgood.serve.videos import VideoReader
from tests.support.chdb_client import ChdbClient
from tests.support.lookup_scenario import (
    CAMPAIGN,
    EXPECTED_LOOKUPS,
    EXPECTED_TOP,
    QUOTED,
    ROWS,
    T0,
    oracle_top,
    write_scenario,
)

DB = "forgood_serve_videos"
NOW = T0 + 3_600
LOOKUP_FIELDS = ["campaign_id", "video_id", "status", "minute", "status_at", "reason"]
ALL_ROWS = [r for group in ROWS for r in group]


@pytest.fixture(scope="module")
def chdb_client(chdb_client: ChdbClient) -> ChdbClient:
    """tests/unit/conftest.py's current ClickHouse, holding the lookup scenario."""
    write_scenario(chdb_client, DB)
    return chdb_client


def make_state(ready: bool = True) -> CounterState:
    state = CounterState(clock=lambda: NOW)
    state.apply(parse_campaigns({"campaigns": [
        {"id": CAMPAIGN, "name": "Lookup", "nonprofit": "Lookup Trust", "hashtags": ["LookUp"],
         "donation_per_video": "1.00", "currency": "USD", "starts_at": "2026-11-24T00:00:00Z",
         "ends_at": "2026-12-24T00:00:00Z"},
        {"id": "quiet-camp", "name": "Quiet", "nonprofit": "Nobody", "hashtags": ["Quiet"],
         "donation_per_video": "1.00", "currency": "USD", "starts_at": "2026-11-24T00:00:00Z",
         "ends_at": "2026-12-24T00:00:00Z"},
    ]}))
    state.ready = ready
    return state


class Clock:
    """A monotonic clock the test moves by hand (the top-videos cache's age)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: connections are refused


def refusing_client() -> Client:
    """The real clickhouse-driver client, aimed at a port nobody listens on."""
    return Client(host="127.0.0.1", port=closed_port(), connect_timeout=1, send_receive_timeout=1)


@asynccontextmanager
async def client_for(state: CounterState, reader: VideoReader | None) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(state, videos=reader))) as client:
        yield client


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def reader_for(chdb: ChdbClient, **kwargs: Any) -> VideoReader:
    # one thread: the chdb session is shared, so its reads must not overlap
    return VideoReader(lambda: chdb, DB, workers=1, **kwargs)


def video_path(video_id: str, campaign: str = CAMPAIGN) -> str:
    return f"/api/campaigns/{campaign}/videos/{quote(video_id, safe='')}"


# --- did my video count? -------------------------------------------------------------------------

def test_every_status_as_the_scenario_says_and_never_a_creator(chdb_client: ChdbClient) -> None:
    async def go() -> None:
        async with client_for(make_state(), reader_for(chdb_client)) as client:
            for video_id, expected in EXPECTED_LOOKUPS.items():
                resp = await client.get(video_path(video_id))
                assert resp.status == 200, (video_id, await resp.text())
                raw = await resp.read()
                body = orjson.loads(raw)
                assert list(body) == LOOKUP_FIELDS
                assert body == {"campaign_id": CAMPAIGN, "video_id": video_id, **expected}, video_id
                assert b"SECRET" not in raw and "creator_id" not in body
                assert resp.headers["Cache-Control"] == "public, max-age=1"
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
                again = await client.get(video_path(video_id), headers={"If-None-Match": resp.headers["ETag"]})
                assert again.status == 304
            assert {e["status"] for e in EXPECTED_LOOKUPS.values()} == {"counted", "removed", "outside_window",
                                                                       "unknown"}
            head = await client.head(video_path("v-counted"))
            assert head.status == 200
            pre = await client.options(video_path("v-counted"), headers={
                "Origin": "https://example.org", "Access-Control-Request-Method": "GET"})
            assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "*"
            for method in ("POST", "PUT", "DELETE"):
                assert (await client.request(method, video_path("v-counted"))).status == 405

    run(go())


def test_percent_decoding_and_video_id_limits(chdb_client: ChdbClient) -> None:
    async def go() -> None:
        async with client_for(make_state(), reader_for(chdb_client)) as client:
            # the id with quotes, a backslash, a tab and ✓, percent-encoded: found, exactly
            body = await (await client.get(video_path(QUOTED))).json()
            assert (body["video_id"], body["status"]) == (QUOTED, "counted")
            for raw, decoded in (("a%2Fb", "a/b"), ("a%25b", "a%b"), ("a+b", "a+b"), ("%E2%9C%93", "✓"),
                                 ("v-counted%20", "v-counted ")):
                resp = await client.get(f"/api/campaigns/{CAMPAIGN}/videos/{raw}")
                assert resp.status == 200, raw
                assert (await resp.json())["video_id"] == decoded, raw
                assert (await resp.json())["status"] == "unknown", raw  # not trimmed: an exact match only
            longest = "x" * MAX_ID_LENGTH
            assert (await (await client.get(video_path(longest))).json())["status"] == "unknown"
            for bad, words in (("x" * (MAX_ID_LENGTH + 1), f"{MAX_ID_LENGTH + 1} characters long"),
                               ("é" * (MAX_ID_LENGTH + 1), f"video ids have 1 to {MAX_ID_LENGTH}"),
                               ("%FF", "not UTF-8"), ("%C3", "not UTF-8")):
                path = f"/api/campaigns/{CAMPAIGN}/videos/{bad if bad.startswith('%') else quote(bad, safe='')}"
                resp = await client.get(path)
                assert resp.status == 400, bad
                body = await resp.json()
                assert body["error"] == "bad_request" and "malformed video id" in body["message"], body
                assert words in body["message"], body
            resp = await client.get(f"/api/campaigns/{CAMPAIGN}/videos/")
            assert resp.status == 404 and (await resp.json())["error"] == "not_found"

    run(go())


def test_unknown_and_malformed_campaigns_answer_as_the_rest_of_the_api(chdb_client: ChdbClient) -> None:
    async def go() -> None:
        async with client_for(make_state(), reader_for(chdb_client)) as client:
            # "other-camp" has rows in ClickHouse but is not a campaign the service knows
            for campaign in ("nope", "other-camp"):
                resp = await client.get(video_path("huge", campaign))
                assert resp.status == 404
                assert await resp.json() == {"error": "not_found", "message": f"no campaign {campaign!r}"}
                assert (await client.get(f"/api/campaigns/{campaign}")).status == 404  # the same answer
            resp = await client.get(video_path("v-counted", "Bad-Id"))
            assert resp.status == 400
            assert (await resp.json())["error"] == "bad_request"
            # a known campaign with no rows at all: unknown, not an error
            body = await (await client.get(video_path("v-counted", "quiet-camp"))).json()
            assert (body["campaign_id"], body["status"]) == ("quiet-camp", "unknown")
        async with client_for(make_state(ready=False), reader_for(chdb_client)) as client:
            resp = await client.get(video_path("v-counted"))
            assert resp.status == 503 and (await resp.json())["error"] == "not_ready"

    run(go())


def test_clickhouse_unreachable_is_a_quick_503() -> None:
    async def go() -> None:
        reader = VideoReader(refusing_client, DB, timeout_s=2.0)
        async with client_for(make_state(), reader) as client:
            started = time.monotonic()
            resp = await client.get(video_path("v-counted"))
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5" and resp.headers["Cache-Control"] == "no-store"
            body = await resp.json()
            assert body == {"error": "unavailable",
                            "message": "cannot look the video up: ClickHouse is unreachable right now; "
                                       "retry in a moment"}
            assert time.monotonic() - started < 2.0
            # the counters still answer, without top videos (never read)
            campaign = await client.get(f"/api/campaigns/{CAMPAIGN}")
            assert campaign.status == 200
            body = await campaign.json()
            assert body["top_videos"] is None and body["top_videos_as_of"] is None and body["name"] == "Lookup"

    run(go())


def test_clickhouse_that_never_answers_is_a_503_after_the_timeout_not_a_hang() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]

        def hung_client() -> Client:
            return Client(host="127.0.0.1", port=port, connect_timeout=5, send_receive_timeout=30)

        async def go() -> None:
            reader = VideoReader(hung_client, DB, timeout_s=0.5, workers=2)
            async with client_for(make_state(), reader) as client:
                started = time.monotonic()
                answers = await asyncio.gather(*(client.get(video_path(f"v{i}")) for i in range(5)))
                elapsed = time.monotonic() - started
                assert [a.status for a in answers] == [503] * 5
                body = await answers[0].json()
                assert body["error"] == "unavailable" and "did not answer within 0.5 s" in body["message"]
                assert elapsed < 3.0, f"five lookups waited {elapsed:.1f} s"  # queued ones are cancelled too
                started = time.monotonic()
                campaign = await client.get(f"/api/campaigns/{CAMPAIGN}")
                assert campaign.status == 200 and (await campaign.json())["top_videos"] is None
                assert time.monotonic() - started < 2.0

        run(go())


def test_no_reader_configured_is_a_503() -> None:
    async def go() -> None:
        async with client_for(make_state(), None) as client:
            resp = await client.get(video_path("v-counted"))
            assert resp.status == 503 and (await resp.json())["error"] == "unavailable"

    run(go())


# --- top videos ----------------------------------------------------------------------------------

def test_the_campaign_answer_carries_its_exact_top_ten(chdb_client: ChdbClient) -> None:
    async def go() -> None:
        reader = reader_for(chdb_client, wall=lambda: NOW + 0.7)
        async with client_for(make_state(), reader) as client:
            listed = {c["id"]: c for c in (await (await client.get("/api/campaigns")).json())["campaigns"]}
            assert all("top_videos" not in c for c in listed.values())  # the list stays ClickHouse-free
            assert reader.reads == 0
            raw = await (await client.get(f"/api/campaigns/{CAMPAIGN}")).read()
            body = orjson.loads(raw)
            assert {k: v for k, v in body.items() if not k.startswith("top_videos")} == listed[CAMPAIGN]
            assert [v["video_id"] for v in body["top_videos"]] == EXPECTED_TOP
            assert body["top_videos"] == [t.to_json() for t in oracle_top(ALL_ROWS, CAMPAIGN, 10)]
            assert list(body["top_videos"][0]) == ["video_id", "views", "likes", "shares", "comments", "minute"]
            assert body["top_videos_as_of"] == "2026-11-24T20:00:00Z"
            assert b"SECRET" not in raw
            quiet = await (await client.get("/api/campaigns/quiet-camp")).json()
            assert quiet["top_videos"] == [] and quiet["top_videos_as_of"] == "2026-11-24T20:00:00Z"

    run(go())


def test_top_videos_are_cached_per_campaign_and_read_once_for_many_requests(chdb_client: ChdbClient) -> None:
    async def go() -> None:
        clock = Clock()
        reader = reader_for(chdb_client, clock=clock, top_ttl_s=5.0)
        async with client_for(make_state(), reader) as client:
            answers = await asyncio.gather(*(client.get(f"/api/campaigns/{CAMPAIGN}") for _ in range(20)))
            bodies = [await a.json() for a in answers]
            assert all(b["top_videos"] == bodies[0]["top_videos"] for b in bodies) and bodies[0]["top_videos"]
            assert reader.reads == 1  # twenty requests, one query
            clock.now += 4.9
            await client.get(f"/api/campaigns/{CAMPAIGN}")
            assert reader.reads == 1  # still fresh
            await client.get("/api/campaigns/quiet-camp")
            assert reader.reads == 2  # per campaign
            clock.now += 0.2
            await client.get(f"/api/campaigns/{CAMPAIGN}")
            assert reader.reads == 3  # stale: read again

    run(go())


def test_when_clickhouse_goes_away_the_last_top_list_is_answered_with_its_time(chdb_client: ChdbClient) -> None:
    down = False
    clock = Clock()
    wall = [float(NOW)]

    def connect() -> Any:
        return refusing_client() if down else chdb_client

    async def go() -> None:
        nonlocal down
        reader = VideoReader(connect, DB, workers=1, clock=clock, wall=lambda: wall[0])
        async with client_for(make_state(), reader) as client:
            first = await (await client.get(f"/api/campaigns/{CAMPAIGN}")).json()
            assert [v["video_id"] for v in first["top_videos"]] == EXPECTED_TOP
            down = True
            clock.now += 10
            wall[0] += 10
            later = await (await client.get(f"/api/campaigns/{CAMPAIGN}")).json()
            assert later["top_videos"] == first["top_videos"]
            assert later["top_videos_as_of"] == first["top_videos_as_of"] == "2026-11-24T20:00:00Z"
            assert reader.reads == 2
            await client.get(f"/api/campaigns/{CAMPAIGN}")
            assert reader.reads == 2  # a failed read is not retried before the TTL either
            down = False
            clock.now += 10
            wall[0] += 10
            back = await (await client.get(f"/api/campaigns/{CAMPAIGN}")).json()
            assert back["top_videos_as_of"] == "2026-11-24T20:00:20Z" and back["top_videos"] == first["top_videos"]

    run(go())


# --- the OpenAPI description ---------------------------------------------------------------------

def test_openapi_describes_the_lookup_with_an_example_per_status(chdb_client: ChdbClient) -> None:
    doc = orjson.loads(orjson.dumps(OPENAPI))
    schemas = doc["components"]["schemas"]
    lookup = schemas["VideoLookup"]
    assert lookup["required"] == LOOKUP_FIELDS and list(lookup["properties"]) == LOOKUP_FIELDS
    assert lookup["properties"]["status"]["enum"] == ["counted", "removed", "outside_window", "unknown"]
    operation = doc["paths"]["/api/campaigns/{id}/videos/{video_id}"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["id", "video_id"]
    assert operation["parameters"][1]["schema"]["maxLength"] == MAX_ID_LENGTH
    assert set(operation["responses"]) == {"200", "304", "400", "404", "503"}
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert {e["value"]["status"] for e in examples.values()} == set(lookup["properties"]["status"]["enum"])
    for name, example in examples.items():
        value = example["value"]
        assert list(value) == LOOKUP_FIELDS, name
        assert value["reason"] in lookup["properties"]["reason"]["enum"], name
        assert "creator" not in json.dumps(value), name
    assert "unavailable" in schemas["Error"]["properties"]["error"]["enum"]
    # the real answers have the documented fields, and the campaign answer the detail schema's
    detail = schemas["CampaignDetail"]["allOf"]
    assert detail[0] == {"$ref": "#/components/schemas/Campaign"}
    assert set(detail[1]["required"]) == {"top_videos", "top_videos_as_of"}
    assert schemas["TopVideo"]["required"] == ["video_id", "views", "likes", "shares", "comments", "minute"]
    campaign_ok = doc["paths"]["/api/campaigns/{id}"]["get"]["responses"]["200"]
    assert campaign_ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CampaignDetail"}

    async def go() -> None:
        async with client_for(make_state(), reader_for(chdb_client)) as client:
            body = await (await client.get(f"/api/campaigns/{CAMPAIGN}")).json()
            assert set(body) == set(schemas["Campaign"]["properties"]) | set(detail[1]["properties"])
            assert list(body["top_videos"][0]) == schemas["TopVideo"]["required"]

    run(go())

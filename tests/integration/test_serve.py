"""The counter service on the real local stack: its numbers equal ClickHouse's, and pushes arrive.

worker + sink + ``python -m forgood.serve`` run as processes. Once the pipeline has settled, every
campaign's videos / creators / donation_minor / currency / version from the API equal the
ClickHouse view (and the versions table) exactly, and so do the per-minute videos; an event
produced later reaches an open event stream (timed). A restarted service starts from
ClickHouse plus the sink's offsets and answers the same numbers as soon as it is ready.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from forgood.domain.campaigns import parse_campaigns
from producers.campaigns import publish_campaigns
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# --- helpers (test_counter_page.py uses them too) ----------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(procs, port: int) -> subprocess.Popen:
    """Start ``forgood serve`` on loopback ``port`` like any forgood command (killed at teardown)."""
    return procs.start("serve", "serve", "--host", "127.0.0.1", "--port", str(port))


def start_pipeline_and_serve(procs) -> tuple[str, int]:
    """Start worker, sink and ``forgood serve`` on a free port; once it answers, return its
    base URL and port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs.start("worker", "worker")
    procs.start("sink", "sink")
    start_serve(procs, port)
    wait_ready(base, procs)
    return base, port


def get_json(url: str, timeout: float = 5.0):
    """(status, parsed body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except OSError:
        return 0, None


def wait_ready(base: str, procs, timeout: float = 90) -> None:
    try:
        wait_until(lambda: get_json(base + "/healthz")[0] == 200, timeout, 0.2, what="serve /healthz 200")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{procs.tail()}") from None


class EventStream:
    """A blocking Server-Sent-Events reader (one frame at a time)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.response = urllib.request.urlopen(url, timeout=timeout)
        assert self.response.status == 200
        assert self.response.headers["Content-Type"].startswith("text/event-stream")

    def next(self) -> dict:
        fields: dict = {}
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("event stream closed")
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                    return fields
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    def close(self) -> None:
        self.response.close()


NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


def campaign_spec(cid: str, name: str, nonprofit: str, tag: str, price: str, currency: str,
                  cap: str | None = None, goal: int | None = None) -> dict:
    spec = {"id": cid, "name": name, "nonprofit": nonprofit, "hashtags": [tag], "donation_per_video": price,
            "currency": currency, "starts_at": (NOW - timedelta(days=2)).isoformat(),
            "ends_at": (NOW + timedelta(days=30)).isoformat()}
    if cap:
        spec["donation_cap"] = cap
    if goal:
        spec["goal_videos"] = goal
    return spec


def write_events(path, prefix: str, tag: str, count: int, creators: int = 5, minutes_back=(5,)) -> None:
    """``count`` videos for ``tag`` by ``creators`` people, spread over ``minutes_back`` (minutes
    before now), the first one delivered twice."""
    lines = []
    for i in range(count):
        created = NOW - timedelta(minutes=minutes_back[i % len(minutes_back)])
        lines.append(json.dumps({"event_id": f"{prefix}-{i}", "video_id": f"{prefix}-v{i}",
                                 "creator_id": f"{prefix}-c{i % creators}", "hashtags": [tag],
                                 "created_at": created.isoformat()}))
    if lines:
        lines.append(lines[0])
    path.write_text("\n".join(lines) + "\n")


# --- the test --------------------------------------------------------------------------------

SPECS = [
    campaign_spec("capped-usd", "Capped", "Cap Fund", "ServeCap", "2.00", "USD", cap="50.00", goal=100),
    campaign_spec("plain-gbp", "Plain", "Plain Trust", "ServePlain", "0.50", "GBP"),
    campaign_spec("yen-jpy", "Yen", "Yen Aid", "ServeYen", "10", "JPY", goal=1000),
    campaign_spec("idle-eur", "Idle", "Nobody", "ServeIdle", "1.00", "EUR"),
]


def clickhouse_state(client, db):
    """(totals by id, versions by id, {(id, epoch minute): videos}) from ClickHouse."""
    try:
        totals = {r[0]: tuple(r[1:]) for r in client.execute(
            f"SELECT campaign_id, videos, creators, donation_minor, currency FROM {db}.campaign_totals")}
        versions = dict(client.execute(
            f"SELECT campaign_id, max(version) FROM {db}.campaign_totals_versions GROUP BY campaign_id"))
        minutes = {(r[0], r[1]): r[2] for r in client.execute(
            f"SELECT campaign_id, toUInt32(minute), videos FROM {db}.campaign_minutes")}
    except Exception:  # the sink has not created the schema yet
        return {}, {}, {}
    return totals, versions, minutes


def api_state(base):
    status, body = get_json(base + "/api/campaigns")
    if status != 200:
        return {}, {}, {}
    totals = {c["id"]: (c["videos"], c["creators"], c["donation_minor"], c["currency"]) for c in body["campaigns"]}
    versions = {c["id"]: c["version"] for c in body["campaigns"]}
    minutes = {(c["id"], int(datetime.fromisoformat(m["minute"].replace("Z", "+00:00")).timestamp())): m["videos"]
               for c in body["campaigns"] for m in c["videos_per_minute"] if m["videos"]}
    return totals, versions, minutes


def recent(minutes: dict) -> dict:
    """Minute rows the API shows: the last 60 minutes, non-zero."""
    current = int(time.time()) // 60 * 60
    return {k: v for k, v in minutes.items() if current - 59 * 60 <= k[1] <= current and v}


EXPECTED = {  # (videos, creators, donation_minor, currency)
    "capped-usd": (40, 6, 5_000, "USD"),  # 40 × $2.00 = $80, capped at $50
    "plain-gbp": (25, 5, 1_250, "GBP"),
    "yen-jpy": (12, 4, 120, "JPY"),
    "idle-eur": (0, 0, 0, "EUR"),
}


def test_api_equals_clickhouse_and_pushes_new_counts(run_settings, procs, clickhouse, tmp_path):
    db = run_settings.clickhouse.database
    publish_campaigns(run_settings, parse_campaigns({"campaigns": SPECS}))
    base, port = start_pipeline_and_serve(procs)

    write_events(tmp_path / "a.jsonl", "a", "ServeCap", 40, creators=6, minutes_back=(3, 7, 12))
    write_events(tmp_path / "b.jsonl", "b", "servePLAIN", 25, creators=5, minutes_back=(1, 2))
    write_events(tmp_path / "c.jsonl", "c", "#ServeYen", 12, creators=4, minutes_back=(20,))
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        produced = procs.run("produce", "--from", str(tmp_path / name), "--quiet")
        assert produced.returncode == 0, produced.stdout + produced.stderr

    def settled():
        ch_totals, ch_versions, ch_minutes = clickhouse_state(clickhouse, db)
        api_totals, api_versions, api_minutes = api_state(base)
        return (ch_totals == EXPECTED and api_totals == ch_totals and api_versions == ch_versions
                and api_minutes == recent(ch_minutes))

    try:
        wait_until(settled, 180, what="the API to equal ClickHouse")
    except AssertionError:
        pytest.fail(f"ClickHouse: {clickhouse_state(clickhouse, db)}\nAPI: {api_state(base)}\n{procs.tail()}")
    _, ch_versions, ch_minutes = clickhouse_state(clickhouse, db)
    assert sum(v for (cid, _), v in recent(ch_minutes).items() if cid == "capped-usd") == 40

    status, one = get_json(base + "/api/campaigns/capped-usd")
    assert status == 200
    assert one["raised"] == "$50.00" and one["percent_of_cap"] == 100.0 and one["percent_of_goal"] == 40.0
    assert get_json(base + "/api/campaigns/nope") == (404, {"error": "not_found", "message": "no campaign 'nope'"})

    # A new video reaches an open event stream (the worker publishes, the service pushes).
    stream = EventStream(base + "/api/campaigns/plain-gbp/events")
    try:
        snapshot = stream.next()
        assert snapshot["event"] == "snapshot" and snapshot["data"]["videos"] == 25
        write_events(tmp_path / "d.jsonl", "d", "ServePlain", 1, minutes_back=(0,))
        sent = time.monotonic()
        assert procs.run("produce", "--from", str(tmp_path / "d.jsonl"), "--quiet").returncode == 0
        produced_at = time.monotonic()
        deadline = time.monotonic() + 60
        while True:
            frame = stream.next()
            assert frame["event"] == "update"
            if frame["data"]["videos"] == 26:
                break
            assert time.monotonic() < deadline, "no update with the new video within 60 s"
        pushed = time.monotonic()
        # version = the worker's publication time (ns, same machine clock): publish → client
        publish_to_client = (time.time_ns() - frame["data"]["version"]) / 1e9
        print(f"\nproduced → pushed: {pushed - produced_at:.2f} s after the producer returned "
              f"({pushed - sent:.2f} s including the produce command); published → pushed: "
              f"{publish_to_client * 1000:.0f} ms")
        assert publish_to_client < 1.0, "a published count must reach clients within 1 s"
        assert frame["data"]["creators"] == 6 and frame["data"]["donation_minor"] == 1_300
        assert int(frame["id"]) == frame["data"]["version"] > ch_versions["plain-gbp"]
    finally:
        stream.close()

    # Restarted, the service starts from ClickHouse and the sink's offsets: same numbers at once.
    assert procs.kill("serve", signal.SIGTERM) == 0, procs.tail()
    wait_until(lambda: clickhouse_state(clickhouse, db)[0].get("plain-gbp") == (26, 6, 1_300, "GBP"), 60,
               what="the new video in ClickHouse")
    start_serve(procs, port)
    wait_ready(base, procs)
    ch_totals, ch_versions, ch_minutes = clickhouse_state(clickhouse, db)
    api_totals, api_versions, api_minutes = api_state(base)
    assert (api_totals, api_versions, api_minutes) == (ch_totals, ch_versions, recent(ch_minutes))
    log = (procs.logs / f"serve-{procs.starts_of['serve']}.log").read_text()
    assert "loaded 4 totals" in log and "from the sink's offsets" in log, log

"""Helpers for tests of ``forgood serve`` (the counter service) on the real local stack: start
it (alone or with the pipeline), wait until it answers, read its JSON API and event stream, and
write campaign specs relative to ``NOW``."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from forgood.domain.kafka import make_producer
from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.domain.settings import Settings
from sinks.schema import TABLES
from tests.support.waiting import wait_until

#: The figures of a campaign's totals, in ``CampaignTotal``'s order, as the API names them.
COUNTS = ("videos", "creators", "donation_minor", "currency", "removed", "views", "likes", "shares", "comments")


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


NOW = datetime.now(UTC).replace(second=0, microsecond=0)


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


def api_state(base):
    status, body = get_json(base + "/api/campaigns")
    if status != 200:
        return {}, {}, {}
    totals = {c["id"]: (c["videos"], c["creators"], c["donation_minor"], c["currency"]) for c in body["campaigns"]}
    versions = {c["id"]: c["version"] for c in body["campaigns"]}
    minutes = {(c["id"], int(datetime.fromisoformat(m["minute"].replace("Z", "+00:00")).timestamp())): m["videos"]
               for c in body["campaigns"] for m in c["videos_per_minute"] if m["videos"]}
    return totals, versions, minutes


def api_counts(base) -> dict[str, tuple]:
    """Every campaign's :data:`COUNTS` from the API (``{}`` while it does not answer 200)."""
    status, body = get_json(base + "/api/campaigns")
    if status != 200:
        return {}
    return {c["id"]: tuple(c[name] for name in COUNTS) for c in body["campaigns"]}


def publish_rows(settings: Settings, rows: list[CampaignTotal | CampaignMinute]) -> None:
    """Publish aggregate rows to the totals / minutes topics as the stream worker does (key and
    value from each record's contract), so ``forgood serve`` can be fed without the worker.
    Blocks until the broker acknowledged every row (raises if it did not within 30 s)."""
    topic = {t.contract.record: t.topic(settings) for t in TABLES}
    producer = make_producer(settings, client_id="tests-publish-rows")
    try:
        sent = [producer.send(topic[type(row)], key=row.key(), value=row.to_bytes()) for row in rows]
        producer.flush(timeout=30)
        for future in sent:
            future.get(timeout=30)
    finally:
        producer.close(timeout=5)

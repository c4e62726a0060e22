"""End-to-end figures on the local stack: events/s through the pipeline, produce -> visible.

Usage (after `make setup`; starts the local stack if needed):

    .venv/bin/python benchmarks/e2e_throughput.py --events 50000

1. starts a worker and a sink in a fresh namespace (topics, groups, database);
2. produces N unique events, each for one of the example campaigns, as fast as the
   kafka-python producer goes, and times until ``campaign_totals`` sums to N;
3. sends single probe events one at a time and times each from send to visible in
   ``campaign_totals`` (polling every 10 ms).

Prints figures; asserts nothing about speed (this is a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import stack  # noqa: E402
from forgood.campaigns import load_campaign_file  # noqa: E402
from forgood.settings import Settings  # noqa: E402
from producers.campaigns import publish_campaigns  # noqa: E402
from producers.client import make_producer  # noqa: E402
from sinks.clickhouse import connect  # noqa: E402


def env_for(settings: Settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGOOD_")}
    env.update({f"FORGOOD_{k.upper()}": str(v) for k, v in settings.model_dump().items()})
    return env


def counted(client, db: str) -> int:
    try:
        return client.execute(f"SELECT sum(videos) FROM {db}.campaign_totals")[0][0] or 0
    except Exception:
        return -1


def event(i: int, tag: str) -> bytes:
    return orjson.dumps({
        "event_id": f"b-{i}", "video_id": f"bench-{i}", "creator_id": f"u{i % 5000}",
        "hashtags": [tag, "fyp"], "created_at": datetime.now(timezone.utc).isoformat(),
    })


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()

    base = Settings()
    stack.up(base)
    rid = "b" + uuid.uuid4().hex[:8]
    settings = base.model_copy(update={
        "topic_prefix": f"{rid}-", "video_topic": f"{rid}-video-created", "app_id": f"forgood-{rid}",
        "clickhouse_url": base.clickhouse_url.rsplit("/", 1)[0] + f"/forgood_{rid}",
        "state_dir": Path(f"/tmp/forgood-bench-{rid}"), "partitions": args.partitions,
        "worker_metrics_port": 0, "sink_metrics_port": 0,
    })
    db = settings.clickhouse.database
    campaigns = load_campaign_file(REPO / "campaigns.example.yaml")
    publish_campaigns(settings, campaigns)
    tags = [c.hashtags[0] for c in campaigns]
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = [
        subprocess.Popen([sys.executable, "-m", "control", name], cwd=REPO, env=env_for(settings),
                         stdout=open(logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT)
        for name in ("worker", "sink")
    ]
    client = connect(settings)
    producer = make_producer(settings, client_id="bench")
    try:
        # warm-up: one event all the way through (group joins, schema creation)
        producer.send(settings.video_topic, key=b"warm", value=event(-1, tags[0])).get(timeout=30)
        t = time.monotonic()
        while counted(client, db) < 1:
            time.sleep(0.1)
        print(f"warm-up: first event visible after {time.monotonic() - t:.1f}s (worker start, group join)")

        n = args.events
        payloads = [event(i, tags[i % len(tags)]) for i in range(n)]
        t0 = time.monotonic()
        for i, raw in enumerate(payloads):
            producer.send(settings.video_topic, key=f"bench-{i}".encode(), value=raw)
        producer.flush()
        t_produced = time.monotonic() - t0
        while counted(client, db) < n + 1:
            time.sleep(0.05)
        t_done = time.monotonic() - t0
        print(f"produced {n:,} events in {t_produced:.2f}s ({n / t_produced:,.0f}/s, kafka-python)")
        print(f"end to end: {n:,} events counted and visible in ClickHouse after {t_done:.2f}s "
              f"= {n / t_done:,.0f} events/s")

        latencies = []
        for p in range(args.probes):
            before = counted(client, db)
            start = time.monotonic()
            producer.send(settings.video_topic, key=b"probe", value=event(10_000_000 + p, tags[p % len(tags)]))
            producer.flush()
            while counted(client, db) <= before:
                time.sleep(0.01)
            latencies.append(time.monotonic() - start)
            time.sleep(0.3)
        latencies.sort()
        print(f"produce -> visible in ClickHouse, {len(latencies)} single events: "
              f"p50 {statistics.median(latencies):.2f}s, max {latencies[-1]:.2f}s, min {latencies[0]:.2f}s")
    finally:
        producer.close()
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)
        client.execute(f"DROP DATABASE IF EXISTS {db}")


if __name__ == "__main__":
    main()

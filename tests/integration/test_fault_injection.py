"""Fault injection on the real local stack: nothing lost, nothing doubled.

One run replays a hypothesis-drawn event mix (duplicates, multi-campaign videos, late and
out-of-window events, and at least one bad input of every dead-letter class) in chunks while
it injects, in order:

* worker crashes — SIGKILL at a random moment while a chunk is being produced, then restart
  (``CRASHES`` times);
* a ClickHouse outage — the server SIGKILLed while events flow, restarted seconds later;
* a sink crash — SIGKILL mid-stream, restart;
* a rebalance — a second worker joins under load, then the first is stopped with SIGTERM;
* a campaign change under load — the capped campaign's cap is raised.

Then it waits (bounded) until ClickHouse settles and compares every total and every minute
row with the oracle, checks every bad input reached the dead-letter topic with its reason,
and prints a summary table. ``FORGOOD_FAULT_EXAMPLES`` sets how many mixes to draw (2 by default: hypothesis draws its
simplest mix first, then a random one).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from forgood import stack
from forgood.domain.campaigns import load_campaign_file
from forgood.domain.events import REASONS
from forgood.domain.kafka import make_producer
from forgood.stack.process import is_alive
from producers.campaigns import publish_campaigns
from producers.sending import SendReport, finish, send_raw
from sinks.clickhouse import connect
from tests.support.badinputs import one_of_each
from tests.support.eventset import generate, make_campaigns, oracle
from tests.support.processes import Processes
from tests.support.readback import read_back
from tests.support.reporting import SUMMARIES
from tests.support.settings import namespaced
from tests.support.topics import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CRASHES = 5
SETTLE_S = 150

event_mixes = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "videos": st.integers(2500, 4000),
        "duplicate_share": st.floats(0.05, 0.3),
        "bad": one_of_each(REASONS),
    }
)



def mismatches(got, want) -> list:
    return [(k, got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)]


class Producer:
    """Produces chunks in a background thread so faults can strike mid-chunk."""

    def __init__(self, settings):
        self.topic = settings.video_topic
        self.producer = make_producer(settings, client_id="fault-suite")
        self.report = SendReport()

    def chunk(self, lines, pace_s: float = 2.0) -> threading.Thread:
        def run():
            step = max(1, len(lines) // 20)
            for i in range(0, len(lines), step):
                for raw in lines[i:i + step]:
                    send_raw(self.producer, self.topic, raw, self.report)
                self.producer.flush()
                time.sleep(pace_s / 20)  # pacing: the chunk is spread over ~pace_s (the load, not a wait)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def close(self):
        finish(self.producer, self.report)


def write_campaigns(path: Path, campaigns, cap_override=None):
    entries = [c.yaml_entry() for c in campaigns]
    for entry in entries:
        if cap_override and entry["id"] in cap_override:
            entry["donation_cap"] = cap_override[entry["id"]]
    path.write_text(yaml.safe_dump({"campaigns": entries}))
    return load_campaign_file(path)


@settings(
    max_examples=int(os.environ.get("FORGOOD_FAULT_EXAMPLES", "2")),
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(mix=event_mixes)
@pytest.mark.timeout(1500)
def test_faults_change_nothing(mix, stack_settings, tmp_path_factory):
    rng = random.Random(mix["seed"])
    tmp = tmp_path_factory.mktemp("faults")
    # Its own namespace per hypothesis example (not the function-scoped make_settings fixture).
    s = namespaced(stack_settings, tmp / "state", tag="f")
    rid = s.topic_prefix.rstrip("-")
    db = s.clickhouse.database
    logs = tmp / "logs"
    logs.mkdir()
    procs = Processes(s, logs)
    client = connect(s)
    counts = {"crashes": 0, "clickhouse_outages": 0, "sink_crashes": 0, "rebalances": 0, "campaign_changes": 0}

    campaigns = make_campaigns()
    publish_campaigns(s, write_campaigns(tmp / "campaigns.yaml", campaigns))
    bad = mix["bad"]
    lines, injected = generate(mix["seed"], mix["videos"], campaigns, mix["duplicate_share"],
                               invalid=[raw for raw, _ in bad])
    chunks = [lines[i::12] for i in range(12)]  # interleaved: duplicates land in other chunks
    producer = Producer(s)
    try:
        procs.start("worker-a", "worker")
        procs.start("sink", "sink")
        producer.chunk(chunks[0], pace_s=0.5).join()
        wait_until(lambda: sum(t[0] for t in read_back(client, db)[0].values()) > 0, 120, what="first counts")

        for i in range(1, CRASHES + 1):  # worker crashes at random moments mid-chunk
            procs.wait_for_log("worker-a", "[^Worker]: Ready")
            thread = producer.chunk(chunks[i])
            time.sleep(rng.uniform(0.2, 2.5))  # fault schedule: the crash strikes at a random moment mid-chunk
            procs.kill("worker-a", signal.SIGKILL)
            counts["crashes"] += 1
            thread.join()
            procs.start("worker-a", "worker")
            time.sleep(rng.uniform(0, 4))  # fault schedule: a random gap before the next chunk (which waits for Ready)

        # ClickHouse outage under load: counting goes on, the sink retries, nothing is dropped.
        ch = next(x for x in stack.status(stack_settings) if x.name == "clickhouse")
        acked_before = producer.report.acked
        thread = producer.chunk(chunks[6])
        wait_until(lambda: producer.report.acked - acked_before >= len(chunks[6]) // 4, 60, 0.02,
                   what="a quarter of the chunk on the topic before ClickHouse is killed (events flowing)")
        os.kill(ch.pid, signal.SIGKILL)
        counts["clickhouse_outages"] += 1
        thread.join()
        wait_until(lambda: not is_alive(ch.pid), 30, 0.1, what=f"ClickHouse (pid {ch.pid}) gone after SIGKILL")
        time.sleep(5)  # fault schedule: the outage lasts 5 s more (the sink retries meanwhile), not a wait
        stack.up(stack_settings)

        # The sink crashes mid-stream.
        thread = producer.chunk(chunks[7])
        time.sleep(rng.uniform(0.2, 1.5))  # fault schedule: the crash strikes at a random moment mid-chunk
        procs.kill("sink", signal.SIGKILL)
        counts["sink_crashes"] += 1
        thread.join()
        procs.start("sink", "sink")

        # Rebalance: a second worker joins under load, then the first leaves (SIGTERM).
        procs.start("worker-b", "worker")
        producer.chunk(chunks[8], pace_s=6).join()
        thread = producer.chunk(chunks[9], pace_s=4)
        procs.kill("worker-a", signal.SIGTERM)
        counts["rebalances"] += 2
        thread.join()

        # Campaign change under load: the cap is raised while events flow.
        raised = {"capped-gbp": "75.00"}
        thread = producer.chunk(chunks[10])
        publish_campaigns(s, write_campaigns(tmp / "campaigns.yaml", campaigns, raised))
        counts["campaign_changes"] += 1
        thread.join()
        producer.chunk(chunks[11]).join()
        producer.close()

        final = [replace(c, cap_minor=7_500) if c.id in raised else c for c in campaigns]
        want_totals, want_minutes = oracle(lines, final, invalid=[raw for raw, _ in bad])
        with contextlib.suppress(AssertionError):  # reported below as mismatches, with the summary
            wait_until(lambda: read_back(client, db) == (want_totals, want_minutes),
                       SETTLE_S, interval=1.0, what="ClickHouse to equal the oracle")
        got_totals, got_minutes = read_back(client, db)
        wrong = mismatches(got_totals, want_totals) + mismatches(got_minutes, want_minutes)

        dead = read_topic(s, s.dlq_topic)
        dead_pairs = {(r.value, dict(r.headers)["forgood-reason"].decode()) for r in dead}
        missing_dead = [(raw[:60], reason) for raw, reason in bad if (raw, reason) not in dead_pairs]

        table = Table(title=f"fault injection (seed {mix['seed']})")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for name, value in [
            ("lines sent", producer.report.sent),
            ("distinct videos", mix["videos"]),
            ("duplicates injected", injected.get("duplicates", 0)),
            ("out-of-window videos", injected.get("out_of_window", 0)),
            ("bad inputs (classes)", f"{len(bad)} ({len({r for _, r in bad})})"),
            ("worker crashes (SIGKILL)", counts["crashes"]),
            ("ClickHouse outages", counts["clickhouse_outages"]),
            ("sink crashes (SIGKILL)", counts["sink_crashes"]),
            ("rebalances (join + leave)", counts["rebalances"]),
            ("campaign changes under load", counts["campaign_changes"]),
            ("dead letters on topic", len(dead)),
            ("bad inputs missing from DLQ", len(missing_dead)),
            ("campaigns / minute rows checked", f"{len(want_totals)} / {len(want_minutes)}"),
            ("mismatches", len(wrong)),
        ]:
            table.add_row(name, str(value))
        summary = Console(width=80, record=True, file=io.StringIO())
        summary.print(table)
        SUMMARIES.append(summary.export_text())
        assert not wrong, f"{len(wrong)} mismatches (key, got, want): {sorted(wrong, key=str)[:20]}\n{procs.tail()}"
        assert not missing_dead, f"bad inputs not dead-lettered: {missing_dead}\n{procs.tail()}"
    finally:
        procs.stop_all()
        if os.environ.get("FORGOOD_KEEP_FAULT_DATA"):  # post-mortem: keep topics and database
            (tmp / "lines.jsonl").write_bytes(b"\n".join(lines))
            print(f"kept: prefix {rid}, database {db}, lines in {tmp}/lines.jsonl")
        else:
            with contextlib.suppress(Exception):
                client.execute(f"DROP DATABASE IF EXISTS {db}")

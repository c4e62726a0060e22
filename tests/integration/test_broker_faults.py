"""Broker faults on a real Apache Kafka: the broker dies or is stopped mid-replay, nothing is lost
or doubled.

Each test runs its OWN Kafka (``stack.up(own, only={"kafka"})`` on free ports, data in the
test's temporary folder) beside the shared ClickHouse, so killing it disturbs no other test.
A generated event file is split into chunk files that a "user" thread replays one after the
other with ``forgood produce --from FILE``; a worker and a sink run against the own broker.
When the video topic has received a drawn share of the lines (so a replay is in flight and
the worker is busy), the broker is

1. SIGKILLed (its whole process group), left down a few seconds, and started again; or
2. stopped cleanly (``stack.down``: SIGTERM, what ``forgood stack down`` does) and started again.

The replays are run the way a user would run them: in the SIGKILL test the user interrupts
(Ctrl-C, SIGINT) the replay that hangs while the broker is down; in the ``stack down`` test
the replay is left alone. A replay that fails or was interrupted is run again, on the same
file, once the broker answers, re-sending what it had already sent (the pipeline must absorb
those duplicates). The worker and the sink are not restarted unless they exit; every exit is
recorded. The test then waits (bounded) until ClickHouse's ``campaign_totals`` and
``campaign_minutes`` equal the oracle of ``tests/support/eventset.py`` exactly, and adds a summary to
the end of the run (broker restart time, time until exact, replays, process exits).
``FORGOOD_BROKER_FAULT_SEED`` fixes the event set and the fault point (random by default).
"""

from __future__ import annotations

import io
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from rich.table import Table

from forgood import stack
from forgood.domain.campaigns import load_campaign_file
from forgood.stack.endpoints import Endpoint
from forgood.stack.ports import port_in_use
from forgood.stack.process import is_alive
from producers.campaigns import publish_campaigns
from tests.support.eventset import generate, make_campaigns, oracle
from tests.support.processes import REPO, settings_env
from tests.support.readback import read_back
from tests.support.reporting import SUMMARIES
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

KAFKA = {"kafka"}
CHUNKS = 4
SETTLE_S = 120
REPLAY_TIMEOUT_S = 90
STEADY = ("worker", "sink")
#: The worker and the sink ride a broker outage out: an exit is recorded (and the process
#: restarted, so the numbers can still be checked), then fails the test.
ALLOW_EXITS = False


def free_port_pair() -> tuple[int, int]:
    """Two distinct free ports (Kafka client, KRaft controller) away from the defaults."""
    rng = random.Random()
    while True:
        pair = rng.randrange(20000, 60000), rng.randrange(20000, 60000)
        if pair[0] != pair[1] and not any(port_in_use(Endpoint("127.0.0.1", p)) for p in pair):
            return pair


@pytest.fixture
def own(run_settings, procs, tmp_path):
    """Settings of the test's own Kafka (started here) beside the shared ClickHouse; the
    test's forgood processes use them. Stops the processes, then the broker, at teardown."""
    kafka_port, controller_port = free_port_pair()
    settings = run_settings.model_copy(update={
        "kafka_bootstrap": f"127.0.0.1:{kafka_port}",
        "kafka_controller_port": controller_port,
        "state_dir": tmp_path / "own",
    })
    stack.up(settings, only=KAFKA, timeout=120)
    procs.settings = settings
    try:
        yield settings
    finally:
        procs.stop_all()
        stack.down(settings, only=KAFKA)



def mismatches(got, want) -> list:
    return [(k, got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)]


def broker_answers(settings) -> bool:
    return stack.status(settings, only=KAFKA, probe_timeout=1.0)[0].answering


def topic_records(settings, topic: str) -> int:
    """Sum of the topic's end offsets: every record ever appended (re-sent copies included)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             enable_auto_commit=False, request_timeout_ms=10_000)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


@dataclass
class Attempt:
    file: str
    number: int
    returncode: int | None  # None: timed out
    seconds: float
    error: str = ""


@dataclass
class Replayer:
    """A user replaying chunk files with ``forgood produce --from``, one after the other. A failed
    replay (or one the user interrupted with Ctrl-C) is run again on the same file once the
    broker answers, re-sending whatever it had already sent."""

    procs: object
    settings: object
    files: list[Path]
    attempts: list[Attempt] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    current: subprocess.Popen | None = None
    current_file: str = ""
    interrupted: list[str] = field(default_factory=list)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Kill the replay in flight, if any (teardown after a failure)."""
        proc = self.current
        if proc is not None and proc.poll() is None:
            proc.kill()

    def interrupt(self) -> None:
        """Ctrl-C the replay in flight, if any (a user who sees the broker is down)."""
        proc = self.current
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            self.interrupted.append(self.current_file)

    def _once(self, path: Path) -> tuple[int | None, str]:
        self.current_file = f"{path.name}#{sum(a.file == path.name for a in self.attempts) + 1}"
        self.current = proc = subprocess.Popen(
            [sys.executable, "-m", "forgood.cli", "produce", "--from", str(path), "--quiet"],
            cwd=REPO, env=settings_env(self.settings), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        try:
            out, _ = proc.communicate(timeout=REPLAY_TIMEOUT_S)
            return proc.returncode, out.decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            return None, f"timed out after {REPLAY_TIMEOUT_S} s: " + out.decode(errors="replace")
        finally:
            self.current = None

    def _run(self) -> None:
        try:
            for path in self.files:
                for number in range(1, 6):
                    t0 = time.monotonic()
                    rc, out = self._once(path)
                    self.attempts.append(Attempt(path.name, number, rc, time.monotonic() - t0,
                                                 "" if rc == 0 else _last_error(rc, out)))
                    if rc == 0:
                        break
                    wait_until(lambda: broker_answers(self.settings), 120, 0.5,
                               what="the broker to answer before re-running the replay")
                else:
                    raise AssertionError(f"replay of {path.name} failed 5 times: {self.attempts[-5:]}")
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.done.set()


def _last_error(rc: int | None, output: str) -> str:
    """Why a replay failed, in one line: the user's Ctrl-C, or the last exception it printed
    (rich wraps long messages over several lines, so the output is joined first)."""
    if rc in (-signal.SIGINT, 130):
        return "interrupted (Ctrl-C)"
    text = " ".join(output.split())
    found = re.findall(r"\b(\w*(?:Error|Exception)\w*: .+?)(?= [│╰╭]|$)", text)
    return (found[-1] if found else text[-160:])[:160]


def supervise(procs, exits: list, since: float) -> None:
    """Restart the worker or the sink if it exited (recording the exit and the last exception
    named in its log), as a supervisor would."""
    for name in STEADY:
        proc = procs.running.get(name)
        if proc is not None and proc.poll() is not None:
            log = procs.logs / f"{name}-{procs.starts_of[name]}.log"
            raised = re.findall(r"^(\w+(?:Error|Exception)\b.{0,80})", log.read_text(errors="replace"), re.M)
            exits.append((name, proc.returncode, round(time.monotonic() - since, 1), raised[-1] if raised else "?"))
            procs.running.pop(name)
            procs.start(name, name)


def log_count(logs: Path, prefix: str, text: str) -> int:
    return sum(p.read_text(errors="replace").count(text) for p in logs.glob(f"{prefix}-*.log"))


def run_with_broker_fault(own, procs, clickhouse, tmp_path, fault_name: str, fault, *,
                          user_interrupts: bool) -> dict:
    """Replay an event file while ``fault(own)`` strikes the broker mid-replay; return measures.

    ``fault`` takes the broker down and returns when it is down; the broker is then started
    again here. With ``user_interrupts`` the replay in flight is interrupted (SIGINT, as Ctrl-C)
    once the broker is down, and re-run after; without, it is left to ride the outage out.
    Asserts ClickHouse ends exactly equal to the oracle.
    """
    seed = int(os.environ.get("FORGOOD_BROKER_FAULT_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    db = own.clickhouse.database
    campaigns = make_campaigns()
    path = tmp_path / "campaigns.yaml"
    path.write_text(yaml.safe_dump({"campaigns": [c.yaml_entry() for c in campaigns]}))
    publish_campaigns(own, load_campaign_file(path))
    lines, injected = generate(seed=seed % 100_000, videos=12_000, campaigns=campaigns, duplicate_share=0.2)
    want_totals, want_minutes = oracle(lines, campaigns)
    files = []
    for i in range(CHUNKS):  # interleaved, so duplicates of a video land in different files
        files.append(tmp_path / f"chunk-{i}.jsonl")
        files[-1].write_bytes(b"\n".join(lines[i::CHUNKS]) + b"\n")

    procs.start("worker", "worker")
    procs.start("sink", "sink")
    procs.wait_for_log("worker", "[^Worker]: Ready", timeout=120)
    procs.wait_for_log("sink", "sink writing", timeout=60)

    # Strike when the topic holds a drawn share of the lines: a replay is in flight and the
    # worker has a backlog.
    share = rng.uniform(0.3, 0.7)
    replayer = Replayer(procs, own, files)
    thread = replayer.start()
    try:
        from kafka import KafkaConsumer, TopicPartition

        watcher = KafkaConsumer(bootstrap_servers=own.kafka_bootstrap, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(own.video_topic, p) for p in watcher.partitions_for_topic(own.video_topic)]

            def reached() -> int:
                on_topic = sum(watcher.end_offsets(tps).values())
                return on_topic if on_topic >= share * len(lines) else 0

            at_fault = wait_until(reached, 120, 0.02, what=f"{share:.0%} of the lines on {own.video_topic}")
            in_flight = replayer.current_file if replayer.current else "none"
            t_fault = time.monotonic()
            fault(own)
            down_s = time.monotonic() - t_fault
        finally:
            watcher.close()
        if user_interrupts:
            replayer.interrupt()
        counted_at_fault = sum(t[0] for t in read_back(clickhouse, db)[0].values())
        outage_s = rng.uniform(2, 6)  # the fault's duration (not a wait for a condition): an outage, not a blip
        time.sleep(outage_s)
        alive_in_outage = {name: procs.running[name].poll() is None for name in STEADY}

        t_up = time.monotonic()
        stack.up(own, only=KAFKA, timeout=120)
        t_answering = time.monotonic()
        exits: list = []
        counted_at_restart = sum(t[0] for t in read_back(clickhouse, db)[0].values())
        first_write: list[float] = []

        def watch() -> None:
            """Restart a process that exited; note when ClickHouse first moves after the restart."""
            supervise(procs, exits, t_fault)
            if not first_write and sum(t[0] for t in read_back(clickhouse, db)[0].values()) > counted_at_restart:
                first_write.append(time.monotonic())

        wait_until(lambda: watch() or replayer.done.is_set(), REPLAY_TIMEOUT_S * 2, 0.5,
                   what="the replay to finish")
        thread.join(timeout=10)
        if replayer.error:
            raise AssertionError(f"replay failed: {replayer.error!r}\n{procs.tail()}")
        t_replayed = time.monotonic()

        def settled():
            watch()
            return read_back(clickhouse, db) == (want_totals, want_minutes)

        try:
            wait_until(settled, SETTLE_S, interval=0.5, what="ClickHouse to equal the oracle")
            exact = True
        except AssertionError:
            exact = False
        t_exact = time.monotonic()
        got_totals, got_minutes = read_back(clickhouse, db)
        wrong = mismatches(got_totals, want_totals) + mismatches(got_minutes, want_minutes)
        records = topic_records(own, own.video_topic)
        failed = [a for a in replayer.attempts if a.returncode != 0]
        logs = procs.logs
        wanted_videos = sum(t[0] for t in want_totals.values())
        errors = {name: f"{log_count(logs, name, mark)} / {log_count(logs, name, 'Traceback')}"
                  for name, mark in (("worker", "[ERROR]"), ("sink", " ERROR "))}
        measures = {
            "seed": seed,
            "fault": fault_name,
            "lines in the event file": len(lines),
            "distinct videos / duplicates injected": f"{12_000} / {injected.get('duplicates', 0)}",
            "records on video-created / re-sent copies": f"{records} / {records - len(lines)}",
            "fault struck at (lines on topic)":
                f"{at_fault} ({at_fault / len(lines):.0%}), replay in flight: {in_flight}",
            "videos in ClickHouse at the fault / wanted": f"{counted_at_fault} / {wanted_videos}",
            "broker stop took": f"{down_s:.1f} s",
            "outage (broker down)": f"{t_answering - t_fault:.1f} s",
            "broker restart (up until answering)": f"{t_answering - t_up:.1f} s",
            "replay interrupted by the user (Ctrl-C)": ", ".join(replayer.interrupted) or "no",
            "replay attempts / failed": f"{len(replayer.attempts)} / {len(failed)}",
            "failed replays": "; ".join(f"{a.file}#{a.number} rc={a.returncode} {a.seconds:.1f}s: {a.error}"
                                        for a in failed) or "none",
            "worker / sink alive during outage": " / ".join(str(alive_in_outage[n]) for n in STEADY),
            "process exits (name, rc, s after fault, error)": str(exits) if exits else "none",
            "restart → first new counts in ClickHouse":
                f"{first_write[0] - t_answering:.1f} s" if first_write else "—",
            "restart → replay finished": f"{t_replayed - t_answering:.1f} s",
            "restart → ClickHouse exact": f"{t_exact - t_answering:.1f} s" if exact else "never",
            "replay finished → ClickHouse exact": f"{t_exact - t_replayed:.1f} s" if exact else "never",
            "worker offset jumps re-sought": log_count(logs, "worker", "offset jump on"),
            "worker log [ERROR] lines / tracebacks": errors["worker"],
            "sink log ERROR lines / tracebacks": errors["sink"],
            "campaigns / minute rows checked": f"{len(want_totals)} / {len(want_minutes)}",
            "mismatches": len(wrong),
        }
        table = Table(title=f"broker fault: {fault_name} (seed {seed})")
        table.add_column("measure")
        table.add_column("value", justify="right", overflow="fold")
        for name, value in measures.items():
            table.add_row(name, str(value))
        summary = Console(width=110, record=True, file=io.StringIO())
        summary.print(table)
        SUMMARIES.append(summary.export_text())
        assert not wrong, (f"{len(wrong)} mismatches (key, got, want): {sorted(wrong, key=str)[:20]}\n"
                           f"{SUMMARIES[-1]}\n{procs.tail()}")
        assert ALLOW_EXITS or not exits, f"processes exited during the broker fault: {exits}\n{procs.tail()}"
        return measures
    finally:
        replayer.stop()  # a replay still running after a failure


def sigkill_broker(settings) -> None:
    """SIGKILL the broker's process group (the java process leads its own session)."""
    pid = stack.status(settings, only=KAFKA)[0].pid
    assert pid, "the test's broker is not running"
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(pid), 30, 0.05, what=f"broker pid {pid} to be gone")


def stop_broker(settings) -> None:
    """What ``forgood stack down`` does to Kafka (SIGTERM, clean shutdown), for this broker only."""
    assert [s.detail for s in stack.down(settings, only=KAFKA)] == ["stopped"]


@pytest.mark.timeout(300)
def test_broker_sigkilled_mid_replay_changes_nothing(own, procs, clickhouse, tmp_path):
    run_with_broker_fault(own, procs, clickhouse, tmp_path, "SIGKILL + restart", sigkill_broker,
                          user_interrupts=True)


@pytest.mark.timeout(300)
def test_stack_down_and_up_mid_replay_changes_nothing(own, procs, clickhouse, tmp_path):
    run_with_broker_fault(own, procs, clickhouse, tmp_path, "stack down + up", stop_broker,
                          user_interrupts=False)

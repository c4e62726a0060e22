"""Issue 14 end to end on the real pipeline: the audit trail, statements, settlements, the
lookup and reconciliation, every figure against independent oracles.

The worker, the sink and ``forgood serve`` run as processes on the local stack. Three
campaigns — ``give-usd`` (uncapped), ``capped-gbp`` (goes over its cap), ``narrow-eur`` (a
window narrower than the events, so some of its tagged videos are made before it starts and
some after it ends) — and a few hundred videos of several creators, created over two days
of event time, are replayed with ``forgood produce --from FILE --topic ...``: removals sent
before their video, removals and restorations after it, engagement snapshots, and
re-deliveries of every kind; the worker is SIGKILLed and restarted after the first counts.
The story:

1. ClickHouse settles at the oracles (``campaign_totals`` and ``campaign_minutes`` by
   :func:`tests.support.removals_oracle.oracle`, ``campaign_videos`` by its ``audit_oracle``);
2. ``forgood statement`` as of T1 (a second inside the event range) in JSON and CSV equals
   :mod:`tests.support.statement_oracle` to the minor unit for every campaign;
3. ``forgood settle`` as of T1 (``give-usd`` and ``capped-gbp``, by ``finance``); settling
   T1 again, or an earlier time, is refused and writes nothing;
4. ``give-usd``'s price changes (``forgood campaigns apply --by alice``), then videos created
   before T1 are removed and restored (status events produced after the settlement): once
   ClickHouse equals the new oracles, the statements as of T1 and T2 owe exactly the oracle's
   ``due_minor`` (donation under the current price less what was paid: a credit as of T1),
   and list the settlement and alice's change;
5. the lookup — ``GET /api/campaigns/{id}/videos/{video_id}`` and ``forgood video`` — answers
   a counted, a restored, a removed, an outside-window (before and after) and an unknown video
   as the oracle says, never with a creator id;
6. the PDF statement's text shows the campaign's name, the due amount and the daily lines;
7. ``forgood reconcile --from-source`` exits 0; after one ``campaign_videos`` row is corrupted
   (a newer version with another status) it exits 1 naming the campaign and the video.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from clickhouse_driver import Client
from typer.testing import CliRunner, Result

from forgood.cli.cli import app
from forgood.domain.records import CampaignVideoRow
from forgood.domain.settings import Settings, get_settings
from sinks.clickhouse import ClickHouseSink
from tests.support import statement_oracle
from tests.support.eventset import OracleCampaign, write_campaigns, write_events
from tests.support.processes import Processes
from tests.support.readback import read_back, read_back_counts
from tests.support.removals_oracle import TOTAL_FIELDS, Created, Event, Stats, Status, audit_oracle, oracle
from tests.support.serving import COUNTS, free_port, get_json, start_serve, wait_ready
from tests.support.statement_oracle import Paid
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SETTLE_S = 150
REMOVAL_REASONS = ("creator_deleted", "moderation", "fraud", "other")
#: The figures of a statement compared with the oracle (JSON and CSV alike).
FIGURES = ("videos", "participants", "removed", "outside_window", "donation_minor", "settled_minor", "due_minor",
           "video_ids_sha256")
SYMBOL = {"USD": "$", "GBP": "£", "EUR": "€"}

Invoke = Callable[..., Result]


# --- the mix -------------------------------------------------------------------------------------

class Mix:
    """The campaigns, the events of each phase and the times of the story, made from a seed
    relative to ``now`` (whole seconds, UTC)."""

    def __init__(self, seed: int, now: datetime, videos: int = 420) -> None:
        rng = random.Random(seed)
        self.now = now
        day = timedelta(days=1)
        self.give = OracleCampaign("give-usd", ("GiveBack",), 100, None, "USD", now - 3 * day, now + day)
        self.capped = OracleCampaign("capped-gbp", ("CapIt",), 200, 20_000, "GBP", now - 3 * day, now + day)
        self.narrow = OracleCampaign("narrow-eur", ("Narrow",), 50, None, "EUR", now - timedelta(hours=30),
                                     now - timedelta(hours=12))
        self.campaigns = [self.give, self.capped, self.narrow]
        #: A second inside the event range (videos before and after it); T2 is after every video.
        self.t1 = int((now - timedelta(hours=20)).timestamp())
        self.t2 = int((now - timedelta(minutes=30)).timestamp())
        self.created: list[Created] = []
        self.early: list[Status] = []  # produced before the created events: held by the worker
        self.status: list[Status] = []  # after them: more removals, restorations
        self.stats: list[Stats] = []
        tags = ["GiveBack"] * 9 + ["CapIt"] * 7 + ["Narrow"] * 5 + [None]
        creators = [f"creator-{i}" for i in range(30)]
        for n in range(videos):
            video = f"v{n:04d}"
            at = now - timedelta(seconds=rng.randint(3_600, 48 * 3_600), microseconds=rng.choice((0, 0, 250_000)))
            first = rng.choice(tags)
            hashtags = ["fyp"] if first is None else [rng.choice([first, "#" + first, first.lower()]), "fyp"]
            if first is not None and rng.random() < 0.15:
                hashtags.append(rng.choice([t for t in tags if t not in (None, first)]))
            self.created.append(Created(f"e-{n}", video, rng.choice(creators), tuple(hashtags), at))
            if rng.random() < 0.14:
                removed_at = at + timedelta(minutes=rng.randint(1, 30), seconds=rng.randint(0, 59))
                removal = Status(f"s-{n}", video, "removed", rng.choice(REMOVAL_REASONS), removed_at)
                (self.early if rng.random() < 0.5 else self.status).append(removal)
                if rng.random() < 0.3:
                    self.status.append(Status(f"r-{n}", video, "restored", "appeal", removed_at + timedelta(minutes=5)))
            if rng.random() < 0.4:
                views = 0
                for k in range(rng.randint(1, 3)):
                    views += rng.randint(0, 40_000)
                    self.stats.append(Stats(f"t-{n}-{k}", video, views, views // 10, views // 100, views // 50,
                                            at + timedelta(minutes=10 * (k + 1))))
        rng.shuffle(self.stats)  # older snapshots after newer ones
        self.phase1: list[Event] = [*self.created, *self.early, *self.status, *self.stats]
        self.late = self._after_the_settlement(rng)

    def _after_the_settlement(self, rng: random.Random) -> list[Status]:
        """Removals of counted videos and restorations of removed ones, of ``give-usd`` and
        ``capped-gbp``, almost all created before T1, dated minutes before ``now`` (after every
        earlier status event of theirs)."""
        created_s = {c.video_id: int(c.created_at.timestamp()) for c in self.created}
        late = []
        for campaign, removals, restorations in ((self.give, 14, 6), (self.capped, 6, 3)):
            state = statement_oracle.statuses(self.phase1, campaign)
            before = sorted(v for v, s in state.items() if created_s[v] < self.t1)
            counted = [v for v in before if state[v] == "counted"]
            removed = [v for v in before if state[v] == "removed"]
            after = sorted(v for v, s in state.items() if created_s[v] >= self.t1 and s == "counted")
            for video in rng.sample(counted, removals) + rng.sample(after, 2):
                late.append(Status(f"late-s-{video}", video, "removed", rng.choice(REMOVAL_REASONS),
                                   self.now - timedelta(seconds=rng.randint(120, 600))))
            for video in rng.sample(removed, min(restorations, len(removed))):
                late.append(Status(f"late-r-{video}", video, "restored", "appeal",
                                   self.now - timedelta(seconds=rng.randint(120, 600))))
        return late

    def with_price(self, price_minor: int) -> list[OracleCampaign]:
        """The campaigns after ``give-usd``'s price changed to ``price_minor``."""
        return [replace(c, price_minor=price_minor) if c.id == self.give.id else c for c in self.campaigns]


def lines(events: Sequence[Event], rng: random.Random, duplicates: float = 0.12) -> list[bytes]:
    out = [e.to_json() for e in events]
    for raw in rng.sample(out, int(len(out) * duplicates)):  # re-deliveries, anywhere
        out.insert(rng.randint(0, len(out)), raw)
    return out


# --- helpers -------------------------------------------------------------------------------------

def iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(minor: int, currency: str) -> str:
    """An amount of a two-decimal currency as a person reads it (en_US): ``-$1,234.50``."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{SYMBOL[currency]}{abs(minor) // 100:,}.{abs(minor) % 100:02d}"


def flat(text: str) -> str:
    return " ".join(text.split())


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def diff(got: dict, want: dict) -> dict:
    return {k: (got.get(k), want.get(k)) for k in sorted(set(got) | set(want), key=str) if got.get(k) != want.get(k)}


def parse_csv(text: str) -> dict[str, list[list[str]]]:
    """The statement CSV's sections: name -> its rows (the header row first)."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row:
            current = None
        elif current is None:
            current = sections.setdefault(row[0], [])
        else:
            current.append(row)
    return sections


@pytest.fixture
def forgood(run_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """``forgood ...`` in-process (CliRunner) with the test's settings in the environment."""
    for name, value in run_settings.as_env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()


# --- the checks ----------------------------------------------------------------------------------

def check_statement(forgood: Invoke, events: list[Event], campaign: OracleCampaign, as_of: int,
                    paid: list[Paid] | None = None) -> tuple[dict, dict]:
    """``forgood statement`` as of ``as_of`` in JSON (with --videos) and CSV equals the
    statement oracle, figure by figure; returns (the oracle, the JSON document)."""
    paid = paid or []
    want = statement_oracle.statement(events, campaign, as_of, paid)
    document = json.loads(ok(forgood("statement", campaign.id, "--as-of", iso(as_of), "--format", "json",
                                      "--videos")))
    got = {k: document[k] for k in (*FIGURES, "days")}
    expected = {k: want[k] for k in (*FIGURES, "days")}
    assert got == expected, f"{campaign.id} as of {iso(as_of)}: (statement, oracle) {diff(got, expected)}"
    assert (document["campaign_id"], document["as_of"], document["currency"], document["price_minor"],
            document["cap_minor"]) == (campaign.id, iso(as_of), campaign.currency, campaign.price_minor,
                                       campaign.cap_minor)
    assert document["name"] == campaign.yaml_entry()["name"] and document["nonprofit"] == "Test Nonprofit"
    assert sorted(v["video_id"] for v in document["video_lines"]) == want["video_ids"]
    assert [(s["as_of"], s["paid_minor"]) for s in document["settlements"]] == \
        [(iso(p.as_of), p.paid_minor) for p in paid if p.as_of <= as_of]
    assert "creator-" not in json.dumps(document), "a statement never names a creator"

    sections = parse_csv(ok(forgood("statement", campaign.id, "--as-of", iso(as_of), "--format", "csv")))
    assert sections["summary"][0] == ["field", "value", "formatted"]
    summary = {row[0]: row[1:] for row in sections["summary"][1:]}
    got_csv = {k: summary[k][0] for k in FIGURES}
    want_csv = {k: str(want[k]) for k in FIGURES}
    assert got_csv == want_csv, f"{campaign.id} csv as of {iso(as_of)}: (csv, oracle) {diff(got_csv, want_csv)}"
    assert summary["due_minor"][1] == money(want["due_minor"], campaign.currency)
    assert sections["days"][0] == ["day", "videos", "donation_minor"]
    assert sections["days"][1:] == [[d["day"], str(d["videos"]), str(d["donation_minor"])] for d in want["days"]]
    assert [row[0] for row in sections["settlements"][1:]] == [iso(p.as_of) for p in paid if p.as_of <= as_of]
    return want, document


def settlement_rows(clickhouse: Client, db: str, cid: str) -> list[tuple]:
    return clickhouse.execute(
        f"SELECT toUInt32(as_of), videos, donation_minor, paid_minor, currency, video_ids_sha256, settled_by "
        f"FROM {db}.settlements WHERE campaign_id = '{cid}' ORDER BY as_of, settled_at")


def refused(result: Result, *fragments: str) -> None:
    text = flat(result.output)
    assert result.exit_code == 2 and "Traceback" not in text, result.output
    for fragment in ("error:", *fragments):
        assert fragment in text, (fragment, text)


def wait_for_pipeline(clickhouse: Client, db: str, events: list[Event], campaigns: list[OracleCampaign],
                      procs: Processes) -> None:
    """Block (bounded) until campaign_totals (every figure), campaign_minutes and campaign_videos
    equal the oracles for ``events``; fail with the differences."""
    totals, minutes = oracle(events, campaigns)
    want = {cid: tuple(row[f] for f in TOTAL_FIELDS) for cid, row in totals.items()}
    order = [COUNTS.index(f) for f in TOTAL_FIELDS]
    trail = audit_oracle(events, campaigns)

    def got() -> tuple[dict, dict, dict]:
        have_totals = {cid: tuple(row[i] for i in order) for cid, row in read_back_counts(clickhouse, db).items()}
        try:
            rows = clickhouse.execute(
                f"SELECT campaign_id, video_id, creator_id, toUInt32(created_at), status, toUInt32(status_at), reason,"
                f" views, likes, shares, comments FROM {db}.campaign_videos")
        except Exception:  # the view does not exist yet
            rows = []
        return have_totals, read_back(clickhouse, db)[1], {(r[0], r[1]): tuple(r[2:]) for r in rows}

    try:
        wait_until(lambda: got() == (want, minutes, trail), SETTLE_S, what="ClickHouse to equal the oracles")
    except AssertionError:
        have_totals, have_minutes, have_trail = got()
        pytest.fail(f"totals (got, want) in {TOTAL_FIELDS}: {diff(have_totals, want)}\n"
                    f"minutes: {list(diff(have_minutes, minutes).items())[:5]}\n"
                    f"campaign_videos: {len(diff(have_trail, trail))} differ, e.g. "
                    f"{list(diff(have_trail, trail).items())[:5]}\n{procs.tail()}")


def changes_of(clickhouse: Client, db: str, cid: str) -> list[tuple]:
    try:
        return clickhouse.execute(f"SELECT change_id, what, old, new, changed_by FROM {db}.campaign_changes "
                                  f"WHERE campaign_id = '{cid}' ORDER BY change_id, what")
    except Exception:  # the view does not exist yet
        return []


# --- the test ------------------------------------------------------------------------------------

def test_audit_trail_statements_settlements_lookup_and_reconcile_on_the_real_pipeline(
    run_settings: Settings, procs: Processes, clickhouse: Client, forgood: Invoke, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    mix = Mix(seed=14, now=now)
    give, capped, narrow = mix.give, mix.capped, mix.narrow
    db = run_settings.clickhouse.database

    # The mix holds what the story needs (checked on the oracles, before anything runs).
    before = {c.id: statement_oracle.statement(mix.phase1, c, mix.t1) for c in mix.campaigns}
    final = {c.id: statement_oracle.statement(mix.phase1, c, mix.t2) for c in mix.campaigns}
    assert all(before[c.id]["videos"] < final[c.id]["videos"] for c in (give, capped)), "videos after T1"
    assert before[capped.id]["donation_minor"] < capped.cap_minor == final[capped.id]["donation_minor"]
    assert any(d["donation_minor"] < d["videos"] * capped.price_minor for d in final[capped.id]["days"]), \
        "the cap must be filled part-way through the days"
    assert len(final[give.id]["days"]) >= 2 and before[give.id]["removed"] > 0
    narrow_reasons = {statement_oracle.lookup(mix.phase1, narrow, v)["reason"]
                      for v, s in statement_oracle.statuses(mix.phase1, narrow).items() if s == "outside_window"}
    assert narrow_reasons == {"before_start", "after_end"} and final[narrow.id]["videos"] > 0
    # the two oracles agree on every campaign's totals
    totals, _ = oracle(mix.phase1, mix.campaigns)
    for c in mix.campaigns:
        everything = statement_oracle.statement(mix.phase1, c, int((now + timedelta(days=2)).timestamp()))
        assert (everything["videos"], everything["participants"], everything["removed"],
                everything["donation_minor"]) == tuple(totals[c.id][f] for f in ("videos", "creators", "removed",
                                                                                   "donation_minor")), c.id

    rng = random.Random(2)
    files = {name: write_events(tmp_path, f"{name}.jsonl", lines(events, rng)) for name, events in (
        ("early-status", mix.early), ("created", mix.created), ("stats", mix.stats), ("status", mix.status),
        ("late-status", mix.late))}

    def produce(name: str, topic: str) -> None:
        done = procs.run("produce", "--from", str(files[name]), "--topic", topic, "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr

    def apply(campaigns: list[OracleCampaign], by: str) -> None:
        folder = tmp_path / f"campaigns-{by}"
        folder.mkdir()
        done = procs.run("campaigns", "apply", str(write_campaigns(folder, campaigns)), "--by", by)
        assert done.returncode == 0, done.stdout + done.stderr

    apply(mix.campaigns, "setup")
    port = free_port()
    procs.start("worker", "worker")
    procs.start("sink", "sink")
    start_serve(procs, port)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, procs)
    produce("early-status", "status")  # removals of videos the worker has not seen yet: held
    produce("created", "created")
    wait_until(lambda: sum(t[0] for t in read_back_counts(clickhouse, db).values()) > 0, 120,
               what="first counts in ClickHouse")
    assert procs.kill("worker", signal.SIGKILL) == -signal.SIGKILL  # a crash mid-mix: nothing lost or doubled
    procs.start("worker", "worker")
    produce("stats", "stats")
    produce("status", "status")

    # 1. ClickHouse settles at the oracles.
    wait_for_pipeline(clickhouse, db, mix.phase1, mix.campaigns, procs)
    wait_until(lambda: all(any(row[1] == "created" for row in changes_of(clickhouse, db, c.id))
                           for c in mix.campaigns), 60, what="every campaign's history in campaign_changes")

    # 2. Statements as of T1 (and as of T2 before any settlement), json and csv, as the oracle says.
    for c in mix.campaigns:
        want, document = check_statement(forgood, mix.phase1, c, mix.t1)
        assert want["settled_minor"] == 0 and want["due_minor"] == want["donation_minor"]
        assert [(x["what"], x["changed_by"]) for x in document["changes"]][0] == ("created", "setup")
    check_statement(forgood, mix.phase1, capped, mix.t2)

    # 3. Settlements as of T1; the same as-of again, or an earlier one, refused, nothing written.
    paid: dict[str, list[Paid]] = {give.id: [], capped.id: []}
    for c in (give, capped):
        want = statement_oracle.statement(mix.phase1, c, mix.t1)
        out = flat(ok(forgood("settle", c.id, "--as-of", iso(mix.t1), "--by", "finance")))
        assert (f"settled {c.id} as of {iso(mix.t1)}: paid {money(want['due_minor'], c.currency)} "
                f"({want['due_minor']} minor units of {c.currency})") in out, out
        assert settlement_rows(clickhouse, db, c.id) == [
            (mix.t1, want["videos"], want["donation_minor"], want["due_minor"], c.currency,
             want["video_ids_sha256"], "finance")]
        paid[c.id].append(Paid(mix.t1, want["due_minor"]))
    refused(forgood("settle", give.id, "--as-of", iso(mix.t1), "--by", "finance"),
            f"{give.id} was already settled as of {iso(mix.t1)}", "nothing written")
    refused(forgood("settle", give.id, "--as-of", iso(mix.t1 - 3_600), "--by", "finance"),
            "earlier than its latest settlement", iso(mix.t1), "nothing written")
    assert len(settlement_rows(clickhouse, db, give.id)) == 1
    check_statement(forgood, mix.phase1, give, mix.t1, paid[give.id])  # settled: nothing due

    # 4. A price change (by alice), then removals and restorations after the settlement.
    changed = mix.with_price(75)
    give_now = changed[0]
    apply(changed, "alice")
    produce("late-status", "status")
    every = [*mix.phase1, *mix.late]
    wait_for_pipeline(clickhouse, db, every, changed, procs)
    alice = ("price", "1.00 USD", "0.75 USD", "alice")
    wait_until(lambda: alice in [row[1:] for row in changes_of(clickhouse, db, give.id)], 60,
               what="alice's price change in campaign_changes")

    want_t1, doc_t1 = check_statement(forgood, every, give_now, mix.t1, paid[give.id])
    assert want_t1["due_minor"] < 0, "fewer videos at a lower price than paid: a credit"
    want_t2, doc_t2 = check_statement(forgood, every, give_now, mix.t2, paid[give.id])
    assert want_t2["due_minor"] > 0, "the videos after T1 are owed"
    for document in (doc_t1, doc_t2):
        assert [(s["as_of"], s["donation_minor"], s["settled_by"]) for s in document["settlements"]] == \
            [(iso(mix.t1), before[give.id]["donation_minor"], "finance")]
        assert [(x["what"], x["old"], x["new"], x["changed_by"]) for x in document["changes"]][-1] == alice
        assert {x["changed_by"] for x in document["changes"]} == {"setup", "alice"}
    capped_t2, _ = check_statement(forgood, every, capped, mix.t2, paid[capped.id])
    assert capped_t2["donation_minor"] == capped.cap_minor
    check_statement(forgood, every, capped, mix.t1, paid[capped.id])
    check_statement(forgood, every, narrow, mix.t2)
    refused(forgood("settle", give.id, "--as-of", iso(mix.t1), "--by", "finance"), "already settled")
    assert len(settlement_rows(clickhouse, db, give.id)) == 1

    # 5. Did my video count? The API and `forgood video` answer as the oracle says.
    give_state = statement_oracle.statuses(every, give)
    late_ids = {s.video_id for s in mix.late}
    with_status = {s.video_id for s in [*mix.early, *mix.status]}
    asked = [
        (give, next(v for v, s in sorted(give_state.items()) if s == "counted" and v not in with_status | late_ids)),
        (give, next(s.video_id for s in mix.late if s.status == "restored" and s.video_id in give_state)),
        (give, next(s.video_id for s in mix.late if s.status == "removed" and s.video_id in give_state)),
        (narrow, next(v for v, s in sorted(statement_oracle.statuses(every, narrow).items())
                      if statement_oracle.lookup(every, narrow, v)["reason"] == "before_start")),
        (narrow, next(v for v, s in sorted(statement_oracle.statuses(every, narrow).items())
                      if statement_oracle.lookup(every, narrow, v)["reason"] == "after_end")),
        (give, "v-never-made"),
        (narrow, next(v for v in sorted(give_state) if v not in statement_oracle.statuses(every, narrow))),
    ]
    creators = {c.video_id: c.creator_id for c in mix.created}
    answered = set()
    for campaign, video in asked:
        want = statement_oracle.lookup(every, campaign, video)
        answered.add((want["status"], want["reason"]))
        status, body = get_json(f"{base}/api/campaigns/{campaign.id}/videos/{quote(video, safe='')}")
        assert (status, body) == (200, want), (campaign.id, video)
        assert json.loads(ok(forgood("video", campaign.id, video, "--json"))) == want
        shown = flat(ok(forgood("video", campaign.id, video)))
        assert f"status {want['status']}" in shown and f"video_id {video}" in shown, shown
        assert video not in creators or creators[video] not in shown, "never the creator id"
    assert {s for s, _ in answered} == {"counted", "removed", "outside_window", "unknown"}
    assert ("counted", "appeal") in answered and ("counted", None) in answered

    # 6. The PDF a finance team would get.
    pdf = tmp_path / "give.pdf"
    result = forgood("statement", give.id, "--as-of", iso(mix.t2), "--format", "pdf", "--out", pdf)
    assert result.exit_code == 0 and pdf.stat().st_size > 0, result.output
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    assert give.yaml_entry()["name"] in text and money(want_t2["due_minor"], "USD") in text, text
    for d in want_t2["days"]:
        line = rf"{d['day']}\s+{d['videos']:,}\s+{re.escape(money(d['donation_minor'], 'USD'))}"
        assert re.search(line, text), (line, text)
    total = rf"Total\s+{want_t2['videos']:,}\s+{re.escape(money(want_t2['donation_minor'], 'USD'))}"
    assert re.search(total, text), (total, text)

    # 7. Reconcile: everything agrees; then one corrupted row is named.
    result = forgood("reconcile", "--from-source")
    assert result.exit_code == 0, result.output
    assert f"all {len(mix.campaigns)} campaign(s) agree with campaign_videos and the source topics" in \
        flat(result.output), result.output
    for name in ("serve", "worker", "sink"):  # nothing rewrites the row below
        procs.kill(name, signal.SIGTERM)
    victim = next(v for v, s in sorted(give_state.items()) if s == "counted")
    newest = clickhouse.execute(f"SELECT max(version) FROM {db}.campaign_videos_versions "
                                f"WHERE campaign_id = '{give.id}' AND video_id = '{victim}'")[0][0]
    row = CampaignVideoRow.contract.from_row(clickhouse.execute(CampaignVideoRow.contract.latest_sql(
        f"{db}.campaign_videos_versions", f"campaign_id = '{give.id}' AND video_id = '{victim}'"))[0])
    assert row.status == "counted"
    sink = ClickHouseSink(run_settings)
    sink.start()
    sink.add(replace(row, status="removed", reason="fraud", version=newest + 1))
    assert sink.flush() == 1
    result = forgood("reconcile", "--from-source")
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert f"{give.id}: video {victim}: campaign_videos says status=removed, source says counted" in text, text
    assert "DIFFERS" in text and "Traceback" not in text
    result = forgood("reconcile")  # the rows alone disagree with the totals too
    assert result.exit_code == 1 and f"{give.id}: totals:" in flat(result.output), result.output
    assert forgood("reconcile", "--campaign", capped.id, "--from-source").exit_code == 0


def test_the_mix_is_reproducible_and_its_late_events_are_in_the_past() -> None:
    """The story's events are the seed's, and every time in them is before ``now`` (the
    worker rejects events dated in the future)."""
    now = datetime.now(UTC).replace(microsecond=0)
    one, two = Mix(seed=14, now=now), Mix(seed=14, now=now)
    assert [e.to_json() for e in [*one.phase1, *one.late]] == [e.to_json() for e in [*two.phase1, *two.late]]
    times = [e.created_at for e in one.created] + [e.at for e in [*one.early, *one.status, *one.late]] + \
        [e.observed_at for e in one.stats]
    assert max(times) < now and min(times) > now - timedelta(days=2, hours=1)
    assert {datetime.fromtimestamp(t, UTC).date() for t in (one.t1, one.t2)} <= \
        {e.created_at.date() for e in one.created}

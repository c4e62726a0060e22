"""The counter page in a real browser (headless Chromium driven by Playwright).

The page /c/{id} must show the live numbers, roll them up when new videos are counted
(pushed over Server-Sent Events, no reload), draw the videos-per-minute chart, and log no
console errors. A screenshot is taken into the test's temporary directory; with
``FORGOOD_UPDATE_SCREENSHOT=1`` it replaces docs/counter-page.png for the README (so a test run
does not dirty the working tree).

Views, likes, shares, comments and removals (issue 13) are checked by feeding ``forgood serve``
alone the rows the stream worker publishes (no worker: the figures are the service's and the
pages' to show, whatever counts them): views read "81M" beside the videos with the exact
figure at hand, and a total with fewer videos after a removal rolls the open counters down.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forgood.domain.campaigns import parse_campaigns
from forgood.domain.records import CampaignMinute, CampaignTotal
from producers.campaigns import publish_campaigns
from tests.support.processes import REPO
from tests.support.serving import (
    NOW,
    campaign_spec,
    free_port,
    get_json,
    publish_rows,
    start_pipeline_and_serve,
    start_serve,
    wait_ready,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
README_SCREENSHOT = REPO / "docs" / "counter-page.png"
CID = "red-nose-day-2026"


def events(path: Path, prefix: str, count: int, minutes: range, seed: int) -> None:
    """``count`` #RedNoseDay videos spread over ``minutes`` (minutes before now), busier lately."""
    rng = random.Random(seed)
    weights = [1 + (len(minutes) - i) ** 1.3 + rng.random() * 8 for i in range(len(minutes))]
    lines = []
    for i in range(count):
        back = rng.choices(list(minutes), weights=weights)[0]
        created = NOW - timedelta(minutes=back, seconds=rng.randrange(0, 50))
        lines.append(json.dumps({"event_id": f"{prefix}-{i}", "video_id": f"{prefix}-v{i}",
                                 "creator_id": f"fan-{rng.randrange(160)}", "hashtags": ["RedNoseDay", "fyp"],
                                 "created_at": created.isoformat()}))
    path.write_text("\n".join(lines) + "\n")


def snapshots(path: Path, prefix: str, count: int, seed: int) -> int:
    """One engagement snapshot for each of the first ``count`` videos of ``events(prefix)``
    (a minute ago); returns the views they add up to."""
    rng = random.Random(seed)
    lines, total = [], 0
    observed = (NOW - timedelta(minutes=1)).isoformat()
    for i in range(count):
        views = int(rng.paretovariate(1.2) * 400)
        total += views
        lines.append(json.dumps({"event_id": f"{prefix}-t{i}", "video_id": f"{prefix}-v{i}", "views": views,
                                 "likes": views // 12, "shares": views // 90, "comments": views // 40,
                                 "observed_at": observed}))
    path.write_text("\n".join(lines) + "\n")
    return total


def top_oracle(events_path: Path, stats_path: Path, limit: int = 10) -> list[dict]:
    """The top videos the API must show, from the files produced: every video counted (none
    removed), its one snapshot's engagement (0 without one), most views first, then likes,
    then id; ``minute`` the start of its created_at minute."""
    created = {e["video_id"]: datetime.fromisoformat(e["created_at"])
               for e in map(json.loads, events_path.read_text().splitlines())}
    stats = [json.loads(line) for line in stats_path.read_text().splitlines()]
    stats.sort(key=lambda s: (-s["views"], -s["likes"], s["video_id"]))
    return [{"video_id": s["video_id"], "views": s["views"], "likes": s["likes"], "shares": s["shares"],
             "comments": s["comments"],
             "minute": created[s["video_id"]].astimezone(UTC).replace(second=0).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for s in stats[:limit]]


def wait_in(page, expression: str, timeout_ms: int, what: str) -> None:
    """``page.wait_for_function(expression)``, bounded, failing with what did not happen."""
    try:
        page.wait_for_function(expression, timeout=timeout_ms)
    except Exception as exc:
        if type(exc).__name__ != "TimeoutError":  # playwright's, imported with the package below
            raise
        raise AssertionError(f"timed out after {timeout_ms / 1000:g}s waiting for {what} ({expression})") from exc


def videos(base: str) -> int | None:
    status, body = get_json(f"{base}/api/campaigns/{CID}")
    return body["videos"] if status == 200 else None


def browser_api():
    """playwright's sync API, or a skip (a failure in CI) when it or Debian's chromium is missing."""
    if os.environ.get("CI"):  # `make test` installs both: in CI a missing browser is a failure, not a skip
        assert CHROMIUM.exists(), "Debian's chromium is missing: scripts/setup.sh should have installed it"
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (test extras)")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium package (/usr/bin/chromium)")
    return sync_api


def watch(page, problems: list[str], name: str) -> None:
    page.on("console", lambda m: problems.append(f"{name} console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"{name} page error: {e}"))


def test_counter_page_rolls_up_live_and_has_no_console_errors(run_settings, procs, clickhouse, tmp_path):
    shot = tmp_path / "counter-page.png"
    sync_api = browser_api()

    publish_campaigns(run_settings, parse_campaigns({"campaigns": [
        campaign_spec(CID, "Red Nose Day", "Comic Relief", "RedNoseDay", "2.00", "USD", cap="1000000.00",
                      goal=1000)]}))
    base, _ = start_pipeline_and_serve(procs)
    events(tmp_path / "first.jsonl", "first", 400, range(1, 50), seed=1)
    assert procs.run("produce", "--from", str(tmp_path / "first.jsonl"), "--quiet").returncode == 0
    wait_until(lambda: videos(base) == 400, 120, what="400 videos in the API")
    views = snapshots(tmp_path / "stats.jsonl", "first", 400, seed=3)
    assert procs.run("produce", "--from", str(tmp_path / "stats.jsonl"), "--topic", "stats",
                     "--quiet").returncode == 0
    wait_until(lambda: get_json(f"{base}/api/campaigns/{CID}")[1]["views"] == views, 60,
               what=f"{views:,} views in the API")

    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{base}/c/{CID}", wait_until="load")
            counter = "document.querySelector('[data-counter=videos]').textContent"
            wait_in(page, f"{counter} === '400'", 30_000, "the page's videos counter to show 400")
            assert page.text_content("h1") == "Red Nose Day"
            assert "Comic Relief" in page.text_content("[data-nonprofit-line]")
            wait_in(page, "document.querySelector('[data-counter=raised]').textContent === '$800.00'", 10_000,
                    "the page's raised counter to show $800.00")
            assert page.locator("[data-chart] rect").count() == 60
            assert page.get_attribute("[data-live]", "class") == "live-dot on"

            # New videos counted while the page is open: the numbers roll up without a reload.
            events(tmp_path / "second.jsonl", "second", 57, range(0, 2), seed=2)
            assert procs.run("produce", "--from", str(tmp_path / "second.jsonl"), "--quiet").returncode == 0
            wait_in(page, f"{counter} === '457'", 60_000, "the open page to roll up to 457 videos (SSE, no reload)")
            wait_in(page, "document.querySelector('[data-counter=raised]').textContent === '$914.00'", 10_000,
                    "the open page's raised counter to roll up to $914.00")
            status, api = get_json(f"{base}/api/campaigns/{CID}")
            assert page.text_content("[data-counter=creators]") == f"{api['creators']:,}"
            # The top videos: the API's are the ten most viewed of the snapshots produced (read from
            # the campaign_videos rows the pipeline wrote), and the page's table shows them (it
            # re-reads them a few seconds after each pushed update).
            expected_top = top_oracle(tmp_path / "first.jsonl", tmp_path / "stats.jsonl")
            wait_until(lambda: get_json(f"{base}/api/campaigns/{CID}")[1]["top_videos"] == expected_top, 30,
                       what="the API's top videos to equal the produced snapshots' top ten")
            top_ids = "Array.from(document.querySelectorAll('[data-top-rows] tr'), tr => tr.dataset.video)"
            wait_until(lambda: page.evaluate(top_ids) == [
                v["video_id"] for v in (get_json(f"{base}/api/campaigns/{CID}")[1]["top_videos"] or [])], 30,
                what="the page's top videos to equal the API's")
            assert page.get_by_label("Video id").is_visible()
            assert page.text_content("[data-progress=goal] .pct") == "46%"
            # The bars' CSS transitions (.fill width, 0.8 s) finished: no CSSTransition left running.
            wait_in(page, "!document.getAnimations().some(a => a instanceof CSSTransition)", 10_000,
                    "the bars' transitions to finish before the screenshot")
            page.screenshot(path=str(shot), full_page=True)

            embed = browser.new_page(viewport={"width": 420, "height": 220})
            embed.on("console",
                     lambda m: problems.append(f"embed console {m.type}: {m.text}") if m.type == "error" else None)
            embed.on("pageerror", lambda e: problems.append(f"embed page error: {e}"))
            embed.goto(f"{base}/embed/{CID}?theme=dark", wait_until="load")
            wait_in(embed, f"{counter} === '457'", 30_000, "the embed widget's videos counter to show 457")
            assert embed.evaluate("document.documentElement.scrollHeight") <= 220, "the widget must fit its iframe"
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    assert shot.stat().st_size > 10_000
    if os.environ.get("FORGOOD_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, README_SCREENSHOT)


def text_of(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).textContent"


def test_views_show_beside_videos_and_a_removal_lowers_the_open_counters(run_settings, procs, tmp_path):
    sync_api = browser_api()
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [
        campaign_spec(CID, "Red Nose Day", "Comic Relief", "RedNoseDay", "2.00", "USD", cap="1000000.00",
                      goal=1000)]}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_serve(procs, port)  # the service alone: fed the worker's rows directly
    wait_ready(base, procs)
    minute = int(time.time()) // 60 * 60
    version = time.time_ns()
    publish_rows(run_settings, [
        CampaignTotal(CID, 457, 160, 91_400, "USD", minute, version, removed=0, views=81_000_000, likes=4_200_000,
                      shares=123_456, comments=9_876),
        CampaignMinute(CID, minute, 457, 91_400, version),
    ])
    wait_until(lambda: (get_json(f"{base}/api/campaigns/{CID}")[1] or {}).get("views") == 81_000_000, 30,
               what="the published total in the API")

    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
            watch(page, problems, "page")
            page.goto(f"{base}/c/{CID}", wait_until="load")
            overview = browser.new_page(viewport={"width": 1280, "height": 900})
            watch(overview, problems, "overview")
            overview.goto(f"{base}/", wait_until="load")
            embed = browser.new_page(viewport={"width": 420, "height": 220})
            watch(embed, problems, "embed")
            embed.goto(f"{base}/embed/{CID}", wait_until="load")

            # views beside videos, short to read, the exact figure at hand
            videos, views = text_of("[data-counter=videos]"), text_of("[data-counter=views]")
            wait_in(page, f"{videos} === '457' && {views} === '81M'", 30_000, "457 videos and 81M views")
            assert page.text_content("[data-field=views-exact]") == "81,000,000"
            assert page.get_attribute("[data-counter=views]", "title") == "81,000,000 views"
            labels = page.eval_on_selector_all(".counters .counter .label",
                                               "els => els.map(e => e.firstChild.textContent.trim())")
            assert labels[:2] == ["videos made", "views"], labels  # views beside videos
            boxes = [page.locator(".counters .counter").nth(i).bounding_box() for i in range(2)]
            assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] > boxes[0]["x"], boxes  # same row
            fits = "(el => el.scrollWidth <= el.clientWidth)(document.querySelector('[data-counter=views]'))"
            assert page.evaluate(fits), "81M must be shown whole"
            assert [page.text_content(f"[data-field={n}]") for n in ("likes", "shares", "comments")] == [
                "4.2M", "123.5K", "9,876"]
            assert page.get_attribute("[data-stat=likes]", "title") == "4,200,000 likes"
            assert page.is_hidden("[data-stat=removed]")  # nothing removed yet
            card = f"[data-card={CID}]"
            wait_in(overview, f"{text_of(card + ' [data-figure=videos] .v')} === '457' && "
                    f"{text_of(card + ' [data-figure=views] .v')} === '81M'", 30_000, "the overview card's figures")
            assert overview.get_attribute(f"{card} [data-figure=views] .v", "title") == "81,000,000 views"
            wait_in(embed, f"{videos} === '457' && {views} === '81M'", 30_000, "the widget's videos and views")
            assert embed.evaluate("document.documentElement.scrollHeight") <= 220, "the widget must fit its iframe"

            # A video removed: the worker publishes a newer total with one video fewer. The open
            # counters go down without a reload, and the page says one video was removed.
            publish_rows(run_settings, [
                CampaignTotal(CID, 456, 160, 91_200, "USD", minute, version + 1, removed=1, views=80_990_000,
                              likes=4_199_000, shares=123_400, comments=9_870),
                CampaignMinute(CID, minute, 456, 91_200, version + 1),
            ])
            wait_in(page, f"{videos} === '456'", 30_000, "the open page's videos counter to go down to 456")
            wait_in(page, f"{text_of('[data-counter=raised]')} === '$912.00'", 10_000, "raised to go down to $912.00")
            wait_in(page, f"{text_of('[data-field=views-exact]')} === '80,990,000'", 10_000, "the exact views")
            assert page.is_visible("[data-stat=removed]")
            assert " ".join(page.text_content("[data-stat=removed]").split()).startswith("1 video removed")
            wait_in(overview, f"{text_of(card + ' [data-figure=videos] .v')} === '456'", 30_000,
                    "the overview card to go down to 456")
            assert "1 removed" in overview.text_content(f"{card} .small")
            wait_in(embed, f"{videos} === '456'", 30_000, "the widget to go down to 456")
            for name, shown in (("removed", page), ("overview", overview), ("embed", embed)):
                shown.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


# --- "Did my video count?" and the top videos --------------------------------------------------

def luminance(css_color: str) -> float:
    """Relative luminance (WCAG 2) of a computed ``rgb(r, g, b)`` colour."""
    channels = [int(c) / 255 for c in css_color[css_color.index("(") + 1:css_color.index(")")].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def ask(page, video_id: str) -> str:
    """Type ``video_id`` into the form as a person would, submit, and return the answer's words
    once the answer (not "Checking…") is shown."""
    field = page.get_by_label("Video id")
    field.fill("")
    field.type(video_id) if "\t" not in video_id else field.fill(video_id)  # a tab key would leave the field
    page.get_by_role("button", name="Check").click()
    result = "document.querySelector('[data-lookup-result]')"
    wait_in(page, f"{result}.getAttribute('aria-busy') === null && "
            f"{result}.querySelector('[data-answer-video]') !== null && "
            f"{result}.querySelector('[data-answer-video]').textContent === {json.dumps(video_id)}", 15_000,
            f"the answer for {video_id!r}")
    return " ".join(page.inner_text("[data-lookup-result]").split())  # as rendered: words apart


def test_did_my_video_count_form_and_top_videos(run_settings, procs, clickhouse, tmp_path):
    """The campaign page's lookup form answers in words for a counted, a removed, an
    outside-window and an unknown video, with the minute and the status time; the top videos
    table lists the campaign's exact top ten. ClickHouse holds the scenario of
    tests/unit/audit/test_lookup.py (the answers written out there by hand), written through
    the sink; ``forgood serve`` runs alone."""
    from tests.support.lookup_scenario import CAMPAIGN, EXPECTED_TOP, QUOTED, ROWS, T0, oracle_top, write_scenario

    sync_api = browser_api()
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [
        campaign_spec(CAMPAIGN, "Lookup Day", "Lookup Trust", "LookUp", "1.00", "USD")]}))
    write_scenario(clickhouse, run_settings.clickhouse.database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_serve(procs, port)
    wait_ready(base, procs)
    top = oracle_top([r for group in ROWS for r in group], CAMPAIGN, 10)
    assert [t.video_id for t in top] == EXPECTED_TOP

    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for theme in ("light", "dark"):
                page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=theme)
                watch(page, problems, theme)
                page.goto(f"{base}/c/{CAMPAIGN}", wait_until="load")
                wait_in(page, "document.querySelectorAll('[data-top-rows] tr').length === 10", 20_000,
                        "ten rows in the top videos table")
                shown = page.eval_on_selector_all(
                    "[data-top-rows] tr", "trs => trs.map(tr => Array.from(tr.cells, td => td.textContent))")
                assert shown == [[str(i + 1), t.video_id, f"{t.views:,}", f"{t.likes:,}", f"{t.shares:,}",
                                  f"{t.comments:,}"] for i, t in enumerate(top)]
                assert "with the most views, as of" in page.text_content("[data-top-as-of]")

                # the form, as a person uses it: a label, a button, an answer read out politely
                assert page.get_by_role("heading", name="Did my video count?").is_visible()
                assert page.get_attribute("[data-lookup-result]", "aria-live") == "polite"
                assert page.get_attribute("[data-lookup-result]", "role") == "status"
                answers = {video_id: ask(page, video_id)
                           for video_id in ("v-counted", "v-removed", "v-outside", "never-seen", QUOTED)}
                minute = "24 Nov 2026, 19:00 UTC"
                assert answers["v-counted"].startswith(
                    f"Counted Video v-counted Posted in the minute of {minute} Status since 24 Nov 2026, 19:00:05 UTC")
                assert answers["v-removed"].startswith(
                    "Removed (moderation) Video v-removed Posted in the minute of 24 Nov 2026, 19:01 UTC "
                    "Status since 24 Nov 2026, 19:10:00 UTC")
                assert answers["v-outside"].startswith(
                    "Outside the campaign window (before start) Video v-outside Posted in the minute of "
                    "23 Nov 2026, 19:00 UTC Status since 23 Nov 2026, 19:00:17 UTC")
                assert answers["never-seen"].startswith("Not found for this campaign Video never-seen")
                assert "Posted" not in answers["never-seen"] and "Status since" not in answers["never-seen"]
                assert answers[QUOTED].startswith("Counted Video " + " ".join(QUOTED.split()))
                assert all("SECRET" not in a for a in answers.values())
                assert T0 % 60 == 0  # the minutes above are T0's

                # Readable in this theme: the answer and the field against their backgrounds (WCAG AA).
                ask(page, "v-counted")
                colours = page.evaluate("""() => {
                    const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
                    return {answer: css('[data-lookup-result] .answer', 'color'),
                            form: css('[data-lookup]', 'backgroundColor'),
                            field: css('[data-lookup-input]', 'color'),
                            fieldBg: css('[data-lookup-input]', 'backgroundColor'),
                            button: css('[data-lookup-submit]', 'color'),
                            buttonBg: css('[data-lookup-submit]', 'backgroundColor'),
                            cell: css('[data-top-rows] td.video', 'color'),
                            table: css('[data-top-table]', 'backgroundColor'),
                            page: css('body', 'backgroundColor')}; }""")
                for fg, bg in (("answer", "form"), ("field", "fieldBg"), ("button", "buttonBg"), ("cell", "table")):
                    assert contrast(colours[fg], colours[bg]) >= 4.5, (theme, fg, bg, colours)
                assert (luminance(colours["page"]) < 0.1) == (theme == "dark"), colours
                page.screenshot(path=str(tmp_path / f"lookup-{theme}.png"), full_page=True)
                page.close()

            # A phone: the table and the form stack, nothing wider than the screen.
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            watch(phone, problems, "phone")
            phone.goto(f"{base}/c/{CAMPAIGN}", wait_until="load")
            wait_in(phone, "document.querySelectorAll('[data-top-rows] tr').length === 10", 20_000, "the phone's table")
            assert ask(phone, "v-removed").startswith("Removed (moderation)")
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than a phone"
            table = phone.locator("[data-top-table]").bounding_box()
            form = phone.locator("[data-lookup]").bounding_box()
            assert form["y"] >= table["y"] + table["height"], (table, form)
            phone.screenshot(path=str(tmp_path / "lookup-phone.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)

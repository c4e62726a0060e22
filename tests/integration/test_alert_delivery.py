"""One real alert end to end: worker metrics -> Prometheus rules -> Alertmanager -> a webhook.

A campaign reaches its donation cap; the real stream worker reports it on /metrics; the
test's own Prometheus (the shipped rules, scraping every second) fires
``ForgoodCampaignCapReached``; the test's own Alertmanager (the shipped routes, only the
webhook URLs pointed at this test) groups it for the info route's shipped ``group_wait`` of
1 m and POSTs it to a small HTTP server the test runs.

Prometheus and Alertmanager run in the test's temporary state folder on free ports, so the
shared stack (and its Prometheus and Alertmanager) is not touched; Kafka is the shared one.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from forgood import stack
from forgood.domain.campaigns import parse_campaigns
from producers.campaigns import publish_campaigns
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

MONITORING = {"prometheus", "alertmanager"}
CAMPAIGN = "alert-cap"
TAG = "AlertCapTag"
#: deploy/alertmanager/alertmanager.yml: the info route waits 1 m before its first notification.
SHIPPED_GROUP_WAIT_S = 60
DELIVERY_TIMEOUT_S = 150  # group_wait + Prometheus' send + a slow, shared 2-core machine
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Webhook:
    """An HTTP server in a thread that records every POSTed JSON body with its arrival time."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, str, dict]] = []
        self._lock = threading.Lock()
        received = self._received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received(self.path, body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/forgood-alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _received(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unparsed": body.decode(errors="replace")}
        with self._lock:
            self.posts.append((time.monotonic(), path, payload))

    def snapshot(self) -> list[tuple[float, str, dict]]:
        with self._lock:
            return list(self.posts)


@pytest.fixture
def webhook():
    hook = Webhook()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def run_settings(run_settings, webhook):
    """The conftest's per-test settings plus a worker /metrics port and the test's own
    Prometheus (1 s scrape and evaluation: the only overrides) and Alertmanager."""
    return run_settings.model_copy(
        update={
            "worker_metrics_port": free_port(),
            "prometheus_port": free_port(),
            "alertmanager_port": free_port(),
            "prometheus_scrape_interval_s": 1,
            "prometheus_evaluation_interval_s": 1,
            "alert_webhook_url": webhook.url,
        }
    )


@pytest.fixture
def monitoring(run_settings):
    """This test's Prometheus and Alertmanager, under its temporary state folder."""
    try:
        yield {s.name: s for s in stack.up(run_settings, only=MONITORING, timeout=120)}
    finally:
        stack.down(run_settings, only=MONITORING)


def get_json(url: str):
    try:
        with _NO_PROXY.open(url, timeout=5) as reply:
            return json.load(reply)
    except (OSError, ValueError):
        return None


def query(prometheus: str, expr: str) -> list[dict]:
    answer = get_json(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return (answer or {}).get("data", {}).get("result", [])


def firing(prometheus: str, alertname: str) -> list[dict]:
    answer = get_json(f"{prometheus}/api/v1/alerts") or {}
    return [
        alert for alert in answer.get("data", {}).get("alerts", [])
        if alert["labels"].get("alertname") == alertname and alert["state"] == "firing"
    ]  # fmt: skip


def delivered(webhook: Webhook, alertname: str, campaign: str) -> list[tuple[float, dict, dict]]:
    """(arrival, payload, alert) for every POSTed alert of that name and campaign."""
    return [
        (at, payload, alert)
        for at, _, payload in webhook.snapshot()
        for alert in payload.get("alerts", [])
        if alert.get("labels", {}).get("alertname") == alertname
        and alert.get("labels", {}).get("campaign") == campaign
    ]


def test_campaign_cap_reached_reaches_the_webhook(run_settings, monitoring, webhook, procs, tmp_path):
    assert all(s.answering for s in monitoring.values()), monitoring
    prometheus = f"http://{monitoring['prometheus'].address}"
    now = datetime.now(UTC).replace(microsecond=0)
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [{
        "id": CAMPAIGN, "name": "Alert cap", "nonprofit": "Test", "hashtags": [TAG],
        "donation_per_video": "0.10", "donation_cap": "1.00", "currency": "USD",
        "starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat(),
    }]}))  # fmt: skip
    events = tmp_path / "events.jsonl"
    created = (now - timedelta(minutes=2)).isoformat()
    events.write_text("".join(
        json.dumps({"event_id": f"e{i}", "video_id": f"v{i}", "creator_id": f"c{i % 4}",
                    "hashtags": [TAG], "created_at": created}) + "\n"
        for i in range(15)  # 15 videos at $0.10: $1.50 earned, capped at $1.00
    ))  # fmt: skip

    procs.start("worker", "worker")
    produced = procs.run("produce", "--from", str(events), "--quiet")
    assert produced.returncode == 0, produced.stdout + produced.stderr
    t_produced = time.monotonic()

    raised = f'forgood_campaign_donation_raised_minor{{job="forgood-worker", campaign="{CAMPAIGN}"}}'
    try:
        wait_until(lambda: [r for r in query(prometheus, raised) if r["value"][1] == "100"], 180,
                   what=f"Prometheus to scrape {CAMPAIGN} at its cap (100 minor units)")
    except AssertionError as exc:
        pytest.fail(f"{exc}\n{procs.tail()}")
    t_scraped = time.monotonic()

    (alert,) = wait_until(lambda: firing(prometheus, "ForgoodCampaignCapReached"), 60,
                          what="ForgoodCampaignCapReached firing in Prometheus")
    t_firing = time.monotonic()
    assert alert["labels"]["campaign"] == CAMPAIGN and alert["labels"]["severity"] == "info"
    active_at = datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00"))

    notes = wait_until(lambda: delivered(webhook, "ForgoodCampaignCapReached", CAMPAIGN), DELIVERY_TIMEOUT_S,
                       what="the webhook to receive ForgoodCampaignCapReached")
    t_delivered, payload, sent = notes[0]
    received_at = datetime.now(UTC) - timedelta(seconds=time.monotonic() - t_delivered)

    assert payload["receiver"] == "campaign-updates"  # routed by severity=info, as shipped
    assert payload["status"] == "firing" and sent["status"] == "firing"
    assert payload["groupLabels"] == {"alertname": "ForgoodCampaignCapReached", "campaign": CAMPAIGN}
    assert sent["labels"]["campaign"] == CAMPAIGN and sent["labels"]["currency"] == "USD"
    assert CAMPAIGN in sent["annotations"]["summary"]
    # The shipped group_wait held the first notification back for about a minute.
    held = (received_at - active_at).total_seconds()
    assert held >= SHIPPED_GROUP_WAIT_S - 5, f"delivered {held:.1f} s after the alert became active"
    # NearCap is inhibited by CapReached for the same campaign (and was never due: 100 %).
    assert not delivered(webhook, "ForgoodCampaignNearCap", CAMPAIGN)
    print(
        f"\nalert timing: produced -> scraped at cap {t_scraped - t_produced:.1f} s, "
        f"-> firing in Prometheus {t_firing - t_produced:.1f} s, "
        f"-> webhook POST {t_delivered - t_produced:.1f} s "
        f"({held:.1f} s after Prometheus made it active; group_wait {SHIPPED_GROUP_WAIT_S} s)"
    )

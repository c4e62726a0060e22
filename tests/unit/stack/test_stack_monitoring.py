"""Prometheus and Alertmanager of the local stack, without starting them.

The generated configs are checked by the real tools (``promtool check config`` loads the
project's rule files too; ``amtool check-config`` and ``amtool config routes test``), and in
Python for what the tools cannot see: the scrape jobs are the ones the shipped rules select on,
every path is in the state folder or the repository's own rule files, and the Alertmanager copy
differs from deploy/alertmanager/alertmanager.yml in webhook URLs only, and only when asked.
"""

from __future__ import annotations

import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from forgood import stack
from forgood.domain.errors import StackError
from forgood.domain.settings import Settings
from forgood.stack import alertmanager as alertmanager_module
from forgood.stack import programs as programs_module
from forgood.stack import prometheus as prometheus_module
from forgood.stack.alertmanager import SHIPPED_CONFIG, Alertmanager, render_config
from forgood.stack.layout import StackLayout
from forgood.stack.programs import program_version
from forgood.stack.prometheus import RULES_DIR, Prometheus, duration, scrape_host
from tests.support.processes import REPO

ROOT = REPO
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (run make setup)")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (run make setup)")
WEBHOOK = "http://127.0.0.1:5001/forgood-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(tmp_path: Path, **more) -> Settings:
    values = {
        "state_dir": tmp_path,
        "prometheus_port": 19090,
        "alertmanager_port": 19093,
        "worker_metrics_port": 19464,
        "sink_metrics_port": 19465,
        **more,
    }
    return Settings(**values)


def prometheus_for(tmp_path: Path, **more) -> Prometheus:
    settings = settings_for(tmp_path, **more)
    return Prometheus(settings, StackLayout.for_settings(settings))


def alertmanager_for(tmp_path: Path, **more) -> Alertmanager:
    settings = settings_for(tmp_path, **more)
    return Alertmanager(settings, StackLayout.for_settings(settings))


def run(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"`{' '.join(map(str, args))}` exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


def rule_jobs() -> set[str]:
    """Every job label value the shipped rules select on."""
    jobs: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        text = path.read_text()
        jobs.update(re.findall(r'job\s*=\s*"([^"]+)"', text))
        for alternation in re.findall(r'job\s*=~\s*"([^"]+)"', text):
            jobs.update(alternation.split("|"))
    return jobs


# --- Prometheus --------------------------------------------------------------------------


@needs_promtool
def test_generated_prometheus_config_passes_promtool_with_the_rule_files(tmp_path):
    prometheus = prometheus_for(tmp_path)
    prometheus.prepare()
    done = run(PROMTOOL, "check", "config", prometheus.config_file)
    # promtool loads and checks each rule file the config names.
    for rules in sorted(RULES_DIR.glob("*.yml")):
        assert str(rules.resolve()) in done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


@needs_promtool
def test_short_test_intervals_still_pass_promtool(tmp_path):
    prometheus = prometheus_for(tmp_path, prometheus_scrape_interval_s=1, prometheus_evaluation_interval_s=1)
    prometheus.prepare()
    run(PROMTOOL, "check", "config", prometheus.config_file)
    assert prometheus.config()["global"] == {
        "scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s",
    }  # fmt: skip


def test_prometheus_scrapes_forgood_itself_and_alertmanager_on_loopback(tmp_path):
    config = prometheus_for(tmp_path).config()
    targets = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert targets == {
        "forgood-worker": ["127.0.0.1:19464"],
        "forgood-sink": ["127.0.0.1:19465"],
        "prometheus": ["127.0.0.1:19090"],
        "alertmanager": ["127.0.0.1:19093"],
    }
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:19093"]}]}]}
    # The job names are exactly what the shipped rules (and dashboards) select on.
    assert rule_jobs() and rule_jobs() <= set(targets)
    shipped = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert {c["job_name"] for c in shipped["scrape_configs"]} == set(targets)


def test_prometheus_defaults_match_the_shipped_config(tmp_path):
    config = Prometheus(Settings(state_dir=tmp_path), StackLayout.for_settings(Settings(state_dir=tmp_path))).config()
    shipped = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["global"] == shipped["global"]


def test_prometheus_loads_the_projects_rule_files_in_place(tmp_path):
    rule_files = prometheus_for(tmp_path).config()["rule_files"]
    expected = sorted(str(path.resolve()) for path in (ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    assert rule_files == expected and expected
    assert all(Path(path).is_absolute() and Path(path).exists() for path in rule_files)


def test_prometheus_command_keeps_everything_in_the_state_folder(tmp_path):
    prometheus = prometheus_for(tmp_path)
    argv = prometheus.command()
    root = tmp_path.resolve() / "stack"
    assert Path(argv[0]).name == "prometheus"
    assert f"--config.file={root / 'prometheus' / 'prometheus.yml'}" in argv
    assert f"--storage.tsdb.path={root / 'prometheus' / 'data'}" in argv
    assert "--web.listen-address=127.0.0.1:19090" in argv
    assert any(a.startswith("--storage.tsdb.retention.time=") for a in argv)
    assert prometheus.log_file == root / "logs" / "prometheus.log"
    assert [(label, str(ep)) for label, ep in prometheus.ports()] == [("HTTP", "127.0.0.1:19090")]
    assert prometheus.is_ours(argv) and not prometheus.is_ours(["/usr/bin/prometheus", "--config.file=/etc/x.yml"])


def test_a_worker_with_metrics_off_has_no_target_and_does_not_conflict(tmp_path):
    """Tests run their own workers with metrics off (port 0) against the shared Prometheus:
    such settings state no address for the job, so they do not make ``up`` refuse it."""
    shared = prometheus_for(tmp_path)
    shared.prepare()
    argv = shared.command()
    assert shared.mismatch(argv) is None
    quiet = prometheus_for(tmp_path, worker_metrics_port=0, sink_metrics_port=0)
    assert {c["job_name"] for c in quiet.config()["scrape_configs"]} == {"prometheus", "alertmanager"}
    assert quiet.mismatch(argv) is None
    moved = prometheus_for(tmp_path, worker_metrics_port=29464)
    assert "other targets" in moved.mismatch(argv)
    slower = prometheus_for(tmp_path, prometheus_scrape_interval_s=30)
    assert "other targets, intervals" in slower.mismatch(argv)
    other_port = prometheus_for(tmp_path, prometheus_port=19091)
    assert "other flags" in other_port.mismatch(argv)


def test_a_wildcard_metrics_host_is_scraped_on_loopback(tmp_path):
    assert scrape_host("0.0.0.0") == "127.0.0.1"
    assert scrape_host("127.0.0.1") == "127.0.0.1"
    assert scrape_host("::") == "::1"
    config = prometheus_for(tmp_path, metrics_host="0.0.0.0").config()
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19464"]


def test_durations_are_what_prometheus_parses():
    assert [duration(15), duration(1), duration(15.0), duration(0.5)] == ["15s", "1s", "15s", "500ms"]


def test_prometheus_wipe_deletes_its_samples_only(tmp_path):
    prometheus = prometheus_for(tmp_path)
    prometheus.prepare()
    (prometheus.data_dir / "wal").mkdir()
    prometheus.wipe()
    assert not prometheus.data_dir.exists() and prometheus.config_file.exists()


def test_versions_come_from_the_installed_programs(tmp_path):
    if shutil.which("prometheus"):
        assert re.fullmatch(r"Prometheus \d+\.\d+\.\d+", prometheus_for(tmp_path).describe_version())
    if shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"):
        assert re.fullmatch(r"Alertmanager \d+\.\d+\.\d+", alertmanager_for(tmp_path).describe_version())


def test_version_is_parsed_from_the_program_output_once(tmp_path):
    calls = tmp_path / "calls"
    fake = tmp_path / "fake-prometheus"
    fake.write_text(
        f"#!/bin/sh\necho run >> {calls}\n"
        "echo 'prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert program_version(str(fake)) == "2.42.0"
    assert program_version(str(fake)) == "2.42.0"
    assert calls.read_text().count("run") == 1
    assert program_version(str(tmp_path / "missing")) == ""


# --- Alertmanager ------------------------------------------------------------------------


@needs_amtool
@pytest.mark.parametrize("webhook", ["", WEBHOOK])
def test_generated_alertmanager_config_passes_amtool(tmp_path, webhook):
    alertmanager = alertmanager_for(tmp_path, alert_webhook_url=webhook)
    alertmanager.prepare()
    run(AMTOOL, "check-config", alertmanager.config_file)


def test_without_a_webhook_the_shipped_config_is_used_as_it_is(tmp_path):
    alertmanager = alertmanager_for(tmp_path)
    alertmanager.prepare()
    assert alertmanager.config_file.read_text() == SHIPPED_CONFIG.read_text()


def test_a_webhook_replaces_every_receiver_url_and_nothing_else(tmp_path):
    alertmanager = alertmanager_for(tmp_path, alert_webhook_url=WEBHOOK)
    alertmanager.prepare()
    local = yaml.safe_load(alertmanager.config_file.read_text())
    shipped = yaml.safe_load(SHIPPED_CONFIG.read_text())
    for key in ("global", "route", "inhibit_rules"):
        assert local[key] == shipped[key], key  # routes, group_wait & co., inhibitions as shipped
    assert local["route"]["routes"][2]["group_wait"] == "1m"
    urls = [hook["url"] for r in local["receivers"] for hook in r.get("webhook_configs", [])]
    assert urls and set(urls) == {WEBHOOK}
    for receiver in shipped["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = WEBHOOK
    assert local["receivers"] == shipped["receivers"]  # send_resolved etc. untouched
    assert set(local) == set(shipped)


def test_render_config_drops_url_file_for_the_webhook():
    shipped = yaml.safe_dump({
        "route": {"receiver": "a"},
        "receivers": [
            {"name": "a", "webhook_configs": [{"url_file": "/run/secrets/hook", "send_resolved": True}]},
            {"name": "b"},
        ],
    })  # fmt: skip
    local = yaml.safe_load(render_config(shipped, WEBHOOK))
    assert local["receivers"] == [
        {"name": "a", "webhook_configs": [{"send_resolved": True, "url": WEBHOOK}]},
        {"name": "b"},
    ]
    assert render_config(shipped, "") == shipped


@needs_amtool
def test_routes_of_the_local_copy_are_the_shipped_ones(tmp_path):
    alertmanager = alertmanager_for(tmp_path, alert_webhook_url=WEBHOOK)
    alertmanager.prepare()
    for labels, receiver in [
        (["alertname=ForgoodCampaignCapReached", "severity=info", "campaign=x"], "campaign-updates"),
        (["alertname=ForgoodWorkerDown", "severity=page"], "oncall-pager"),
        (["alertname=ForgoodConsumerLagHigh", "severity=ticket"], "team-ticket"),
    ]:
        for config in (alertmanager.config_file, SHIPPED_CONFIG):
            done = run(AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels)
            assert done.stdout.strip() == receiver


def test_a_bad_webhook_url_is_refused_before_anything_starts(tmp_path):
    alertmanager = alertmanager_for(tmp_path)
    alertmanager.webhook_url = "127.0.0.1:5001/no-scheme"  # the setting may validate this itself
    with pytest.raises(StackError, match="FORGOOD_ALERT_WEBHOOK_URL"):
        alertmanager.config_text()


def test_alertmanager_command_has_no_cluster_port_and_its_files_in_the_state_folder(tmp_path):
    alertmanager = alertmanager_for(tmp_path)
    argv = alertmanager.command()
    root = tmp_path.resolve() / "stack"
    assert Path(argv[0]).name in ("prometheus-alertmanager", "alertmanager")
    assert "--cluster.listen-address=" in argv  # empty: no gossip, so 9094 stays Kafka's
    assert f"--storage.path={root / 'alertmanager' / 'data'}" in argv
    assert f"--config.file={root / 'alertmanager' / 'alertmanager.yml'}" in argv
    assert "--web.listen-address=127.0.0.1:19093" in argv
    assert [(label, ep.port) for label, ep in alertmanager.ports()] == [("HTTP", 19093)]
    assert alertmanager.log_file == root / "logs" / "alertmanager.log"


def test_alertmanager_mismatch_sees_another_webhook(tmp_path):
    alertmanager = alertmanager_for(tmp_path)
    alertmanager.prepare()
    argv = alertmanager.command()
    assert alertmanager.mismatch(argv) is None
    assert "FORGOOD_ALERT_WEBHOOK_URL" in alertmanager_for(tmp_path, alert_webhook_url=WEBHOOK).mismatch(argv)
    assert "other flags" in alertmanager_for(tmp_path, alertmanager_port=19094).mismatch(argv)


def test_alertmanager_wipe_deletes_silences_only(tmp_path):
    alertmanager = alertmanager_for(tmp_path)
    alertmanager.prepare()
    (alertmanager.data_dir / "silences").write_text("x")
    alertmanager.wipe()
    assert not alertmanager.data_dir.exists() and alertmanager.config_file.exists()


# --- missing programs --------------------------------------------------------------------


@pytest.fixture
def no_programs(monkeypatch):
    monkeypatch.setattr(programs_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(prometheus_module, "PROGRAM_PATHS", ())
    monkeypatch.setattr(alertmanager_module, "PROGRAM_PATHS", ())


def test_missing_prometheus_says_run_make_setup(tmp_path, no_programs):
    prometheus = prometheus_for(tmp_path)
    with pytest.raises(StackError, match="make setup") as caught:
        prometheus.preflight()
    assert "Prometheus is not installed" in str(caught.value)
    assert "apt-get install prometheus" in str(caught.value)
    assert prometheus.describe_version() == ""


def test_missing_alertmanager_says_run_make_setup(tmp_path, no_programs):
    alertmanager = alertmanager_for(tmp_path)
    with pytest.raises(StackError, match="make setup") as caught:
        alertmanager.command()
    assert "Alertmanager is not installed" in str(caught.value)
    assert "prometheus-alertmanager" in str(caught.value)
    assert alertmanager.describe_version() == ""


def test_up_starts_nothing_when_prometheus_or_alertmanager_is_missing(tmp_path, no_programs):
    settings = settings_for(tmp_path, prometheus_port=free_port(), alertmanager_port=free_port())
    for name in ("prometheus", "alertmanager"):
        with pytest.raises(StackError, match="make setup"):
            stack.up(settings, timeout=5, only={name})
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))


def test_stack_lists_prometheus_and_alertmanager_after_clickhouse(tmp_path):
    names = [service.name for service in stack.services(settings_for(tmp_path))]
    assert names == ["kafka", "clickhouse", "prometheus", "alertmanager"]
    status = stack.status(settings_for(tmp_path, prometheus_port=free_port(), alertmanager_port=free_port()),
                          probe_timeout=0.5, only={"prometheus", "alertmanager"})
    assert [(s.name, s.running, s.answering) for s in status] == [
        ("prometheus", False, False), ("alertmanager", False, False),
    ]  # fmt: skip

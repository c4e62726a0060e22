"""Alerting configuration: Prometheus rules, their promtool unit tests, and Alertmanager.

Runs the real tools (``promtool`` from Debian's ``prometheus`` package, ``amtool`` from
``prometheus-alertmanager``; ``scripts/setup.sh`` installs both) and checks in Python what the
tools cannot: that every alert is documented, routed, and tested both firing and not firing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import REPO

ROOT = REPO
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
ALERT_RULES = RULES_DIR / "forgood-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "forgood-alerts.test.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"

SEVERITIES = {"page", "ticket", "info"}
RECEIVER_BY_SEVERITY = {"page": "oncall-pager", "ticket": "team-ticket", "info": "campaign-updates"}
JOBS = {"forgood-worker", "forgood-sink"}

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`; scripts/setup.sh installs it)"
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool not installed (Debian package `prometheus-alertmanager`; scripts/setup.sh installs it)",
)


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, (
        f"`{' '.join(proc.args)}` exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _alert_rules() -> dict[str, dict]:
    """Alert name -> rule, over every rule file in deploy/prometheus/rules/."""
    alerts: dict[str, dict] = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in _load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in alerts, f"alert {rule['alert']} defined twice"
                    alerts[rule["alert"]] = rule
    return alerts


def _alert_cases() -> list[tuple[str, str, bool]]:
    """(test name, alert name, fires?) for every alert_rule_test case in the promtool tests."""
    cases = []
    for test in _load(RULE_TESTS)["tests"]:
        for case in test.get("alert_rule_test") or []:
            cases.append((test.get("name", "?"), case["alertname"], bool(case.get("exp_alerts"))))
    return cases


# --------------------------------------------------------------------------- the real tools


@needs_promtool
def test_promtool_check_rules():
    files = sorted(RULES_DIR.glob("*.yml"))
    assert ALERT_RULES in files
    _assert_ok(_run(PROMTOOL, "check", "rules", *files))


@needs_promtool
def test_promtool_unit_tests_pass():
    _assert_ok(_run(PROMTOOL, "test", "rules", RULE_TESTS))


@needs_amtool
def test_amtool_check_config():
    _assert_ok(_run(AMTOOL, "check-config", ALERTMANAGER))


@needs_amtool
def test_every_alert_routes_to_the_receiver_of_its_severity():
    for name, rule in _alert_rules().items():
        labels = {"alertname": name, **rule["labels"]}
        if rule["labels"].get("kind") == "campaign":
            labels["campaign"] = "dance"
        proc = _run(
            AMTOOL, "config", "routes", "test", f"--config.file={ALERTMANAGER}",
            *(f"{k}={v}" for k, v in labels.items()),
        )
        _assert_ok(proc)
        expected = RECEIVER_BY_SEVERITY[rule["labels"]["severity"]]
        assert proc.stdout.strip() == expected, f"{name} routes to {proc.stdout.strip()!r}, not {expected!r}"


# --------------------------------------------------------------------------- static checks


def test_every_alert_is_labelled_and_documented():
    alerts = _alert_rules()
    assert alerts, f"no alerts in {RULES_DIR}"
    problems = []
    for name, rule in alerts.items():
        if not name.startswith("Forgood"):
            problems.append(f"{name}: name should start with 'Forgood'")
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: labels.severity is {severity!r}, not one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: annotations.{key} is missing or empty")
        if "\n" in str(annotations.get("runbook", "")).strip():
            problems.append(f"{name}: annotations.runbook should be one line")
    assert not problems, "\n".join(problems)


def test_every_alert_is_tested_firing_and_not_firing():
    alerts = set(_alert_rules())
    cases = _alert_cases()
    tested = {alert for _, alert, _ in cases}
    unknown = tested - alerts
    # A case on a misspelt alert name "passes" with exp_alerts: [] and proves nothing.
    assert not unknown, f"promtool tests name alerts that do not exist: {sorted(unknown)}"
    firing = {alert for _, alert, fires in cases if fires}
    quiet = {alert for _, alert, fires in cases if not fires}
    missing = [f"{a}: no firing case" for a in sorted(alerts - firing)]
    missing += [f"{a}: no not-firing case" for a in sorted(alerts - quiet)]
    assert not missing, "\n".join(missing)


def test_rule_tests_load_the_alert_rules():
    rule_files = [(RULE_TESTS.parent / f).resolve() for f in _load(RULE_TESTS)["rule_files"]]
    assert ALERT_RULES.resolve() in rule_files


def test_rules_use_only_the_forgood_jobs():
    text = ALERT_RULES.read_text()
    jobs = set(re.findall(r'job\s*=\s*"([^"]+)"', text))
    for alternation in re.findall(r'job\s*=~\s*"([^"]+)"', text):
        jobs.update(alternation.split("|"))
    assert jobs and jobs <= JOBS, f"unexpected job label values {sorted(jobs - JOBS)}"


def test_rules_use_only_metrics_forgood_exports():
    """Every forgood_* name in the rules (queries and runbooks) is one the worker or sink exports."""
    from prometheus_client.metrics import MetricWrapperBase

    import forgood.domain.observability
    import sinks.metrics
    import streams.metrics

    # Histograms by their base name too (runbooks name them so).
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("", "_bucket", "_sum", "_count")}
    exported: set[str] = set()
    for module in (streams.metrics, sinks.metrics, forgood.domain.observability):
        for obj in vars(module).values():
            if isinstance(obj, MetricWrapperBase):
                for metric in obj.describe():
                    exported.update(metric.name + s for s in suffixes.get(metric.type, ("",)))
    used = set(re.findall(r"\b(forgood_[a-z0-9_]+)", ALERT_RULES.read_text()))
    assert used, "no forgood metrics found in the rules"
    assert used <= exported, f"rules read metrics nobody exports: {sorted(used - exported)}"


def test_alertmanager_routes_severities_and_inhibits_known_alerts():
    config = _load(ALERTMANAGER)
    route = config["route"]
    assert {"alertname", "campaign"} <= set(route["group_by"])
    receivers = {r["name"] for r in config["receivers"]}
    assert set(RECEIVER_BY_SEVERITY.values()) <= receivers
    routed = {
        matcher: child["receiver"]
        for child in route.get("routes", [])
        for matcher in child.get("matchers", [])
    }
    for severity, receiver in RECEIVER_BY_SEVERITY.items():
        assert routed.get(f'severity="{severity}"') == receiver, f"severity={severity} is not routed to {receiver}"
    alerts = set(_alert_rules())
    pairs = set()
    for rule in config.get("inhibit_rules", []):
        names = []
        for side in ("source_matchers", "target_matchers"):
            (matcher,) = [m for m in rule[side] if m.startswith("alertname=")]
            names.append(matcher.split("=", 1)[1].strip('"'))
        assert set(names) <= alerts, f"inhibit rule names unknown alerts: {names}"
        assert rule.get("equal"), f"inhibit rule {names} has no `equal` labels"
        pairs.add(tuple(names))
    assert ("ForgoodCampaignCapReached", "ForgoodCampaignNearCap") in pairs
    assert ("ForgoodWorkerDown", "ForgoodPipelineStalled") in pairs
    # Placeholders only: no credentials in the repository.
    text = ALERTMANAGER.read_text()
    assert not re.search(r"(?i)(password|routing_key|api_key|token)\s*:", text)


def test_prometheus_scrapes_the_jobs_the_rules_use():
    assert PROMETHEUS_CONFIG.exists(), f"{PROMETHEUS_CONFIG.relative_to(ROOT)} is missing"
    jobs = {c.get("job_name") for c in _load(PROMETHEUS_CONFIG).get("scrape_configs") or []}
    assert jobs >= JOBS, f"prometheus.yml scrapes {sorted(jobs)}, the rules need {sorted(JOBS)}"

"""docker-compose.yml, Dockerfile, .dockerignore and deploy/prometheus/prometheus.yml, checked by
reading them (no Docker needed): pinned images, forgood's environment made only of documented
settings that parse, health checks, named volumes, loopback-only ports, mounted files present,
no plaintext secrets, a non-root image, and Prometheus scraping the ports the services serve.
"""

from __future__ import annotations

import base64
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from forgood.domain.settings import Settings
from tests.support.processes import REPO

ROOT = REPO
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"


# Services whose images ship a way to probe them; each must define a health check.
MUST_HAVE_HEALTHCHECK = {"kafka", "clickhouse", "prometheus", "alertmanager", "grafana",
                         "forgood-worker", "forgood-sink"}
# Services whose data must outlive `docker compose down`.
MUST_HAVE_NAMED_VOLUME = {"kafka", "clickhouse", "prometheus", "alertmanager", "grafana"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|PASSWD", re.IGNORECASE)
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


# --- helpers -----------------------------------------------------------------------------

def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable interpolation, with ``env`` (default: nothing set) as the environment:
    ``${VAR:-default}``, ``${VAR-default}``, ``${VAR}``, ``$VAR`` and ``$$`` for a literal ``$``."""
    env = env or {}

    def ref(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and not value):
                raise AssertionError(f"${{{name}}} is required: {arg}")
            return value
        if op in (":+", "+"):
            return arg if (value if op == ":+" else value is not None) else ""
        return value or ""

    parts = value.split("$$")
    resolved = [REFERENCE.sub(ref, part) for part in parts]
    resolved = [re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: env.get(m.group(1), ""), part)
                for part in resolved]
    return "$".join(resolved)


def is_reference(value: str) -> bool:
    """True if ``value`` is a single ``${VAR...}`` reference (its value comes from outside)."""
    return bool(REFERENCE.fullmatch(value.strip()))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def command_words(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def healthcheck_words(service: dict) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test") or []
    return [test] if isinstance(test, str) else [str(t) for t in test]


def mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of every volume entry, short or long syntax."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            parts = entry.split(":")
            if len(parts) == 1:
                continue  # anonymous volume
            result.append((parts[0], parts[1]))
        else:
            if entry.get("source"):
                result.append((entry["source"], entry["target"]))
    return result


def is_path(source: str) -> bool:
    return source.startswith((".", "/", "~", "$"))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, buffer = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    if buffer:
        logical.append(buffer)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in logical]


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name_and_tag = image.rsplit("/", 1)[-1]
    if ":" not in name_and_tag:
        return False
    tag = name_and_tag.split(":", 1)[1]
    return bool(tag) and tag != "latest" and "$" not in tag


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and data.get("services"), "docker-compose.yml has no services"
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def forgood_services(services) -> dict[str, dict]:
    found = {name: s for name, s in services.items() if name.startswith("forgood-")}
    assert {"forgood-worker", "forgood-sink", "forgood-simulator", "forgood-campaigns"} <= set(found)
    return found


@pytest.fixture(scope="module")
def prometheus_config() -> dict:
    return load_yaml(PROMETHEUS_FILE)


def settings_for(service: dict, env: dict[str, str] | None = None) -> Settings:
    """The Settings a forgood container would read, ``${VAR:-default}`` resolved with ``env``."""
    kwargs = {}
    for key, value in environment(service).items():
        name = key[len("FORGOOD_"):].lower()
        if name in Settings.model_fields:
            kwargs[name] = interpolate(value, env)
    return Settings(**kwargs)


# --- images ------------------------------------------------------------------------------

def test_every_service_has_a_pinned_image_or_is_built(services):
    for name, service in services.items():
        image = service.get("image")
        assert image or service.get("build"), f"{name}: neither image nor build"
        if image:
            assert image_is_pinned(image), f"{name}: image {image!r} is not pinned to a tag (or is 'latest')"


def test_forgood_services_share_one_built_image_tagged_with_the_package_version(forgood_services):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {s.get("image") for s in forgood_services.values()}
    assert images == {f"forgood:{version}"}, images
    for name, service in forgood_services.items():
        build = service.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context in (".", "./"), f"{name}: build context {context!r}"


# --- forgood's environment ---------------------------------------------------------------

def test_forgood_environment_has_only_documented_settings(forgood_services):
    fields = set(Settings.model_fields)
    for name, service in forgood_services.items():
        for key in environment(service):
            assert key.startswith("FORGOOD_"), f"{name}: {key} is not a forgood setting"
            field = key[len("FORGOOD_"):].lower()
            assert field in fields, (
                f"{name}: {key} matches no field of forgood.domain.settings.Settings "
                f"(known: {', '.join(sorted(fields))})"
            )


def test_forgood_environment_values_parse_as_settings(forgood_services):
    for name, service in forgood_services.items():
        settings = settings_for(service)  # raises ValidationError on a bad value
        assert settings.kafka_bootstrap, name


def test_forgood_environment_points_at_the_compose_services(services, forgood_services):
    kafka_advertised = environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    for name, service in forgood_services.items():
        settings = settings_for(service)
        for server in settings.kafka_bootstrap.split(","):
            host = server.split(":")[0]
            assert host in services, f"{name}: Kafka bootstrap {server} is not a compose service"
            assert f"//{server}" in kafka_advertised, f"{name}: {server} is not an advertised listener"
        target = settings.clickhouse
        assert target.host in services, f"{name}: ClickHouse host {target.host} is not a service"
        assert target.port == 9000
        assert settings.producer_max_batch_bytes >= 1 << 20, name


def test_clickhouse_password_comes_from_one_variable_and_empty_works(services, forgood_services):
    clickhouse_env = environment(services["clickhouse"])
    password_ref = clickhouse_env["CLICKHOUSE_PASSWORD"]
    assert is_reference(password_ref)
    variable = REFERENCE.fullmatch(password_ref).group(1)
    # The image locks `default` to localhost unless one of these is set.
    assert (clickhouse_env.get("CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT") == "1"
            or clickhouse_env.get("CLICKHOUSE_SKIP_USER_SETUP") == "1")
    for name, service in forgood_services.items():
        url = environment(service)["FORGOOD_CLICKHOUSE_URL"]
        assert "${" + variable in url, f"{name}: the URL's password is not ${{{variable}}}"
        assert settings_for(service).clickhouse.password == ""
        with_password = settings_for(service, {variable: "s3cret-pw"})
        assert with_password.clickhouse.password == "s3cret-pw"
        assert with_password.clickhouse.user == urlparse(interpolate(url)).username == "default"


def test_pending_settings_are_set_where_needed(forgood_services):
    for name in ("forgood-worker", "forgood-sink"):
        assert environment(forgood_services[name]).get("FORGOOD_METRICS_HOST") == "0.0.0.0"


# --- commands and ordering ---------------------------------------------------------------

def test_forgood_commands(forgood_services):
    assert command_words(forgood_services["forgood-worker"]["command"]) == ["worker"]
    assert command_words(forgood_services["forgood-sink"]["command"]) == ["sink"]
    simulator = command_words(forgood_services["forgood-simulator"]["command"])
    assert simulator[:2] == ["produce", "--simulate"]
    assert simulator[simulator.index("--duration") + 1] == "0"
    campaigns = forgood_services["forgood-campaigns"]
    words = command_words(campaigns["command"])
    assert words[:2] == ["campaigns", "apply"]
    assert str(campaigns.get("restart")) == "no", "the campaigns job is one-shot"
    # The file it applies is in the repository and copied to that path in the image.
    path = words[2]
    assert (ROOT / Path(path).name).is_file()
    copied = [args for instr, args in dockerfile_instructions() if instr == "COPY"]
    assert any(args.split()[-1] in (path, "/app/", "/app", "./") and Path(path).name in args
               for args in copied), f"{path} is not copied into the image"


def test_depends_on_conditions_are_satisfiable(services):
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: {"condition": "service_started"} for d in depends}
        for other, spec in depends.items():
            assert other in services, f"{name} depends on unknown service {other}"
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert services[other].get("healthcheck"), f"{name} waits for {other} healthy, which has no healthcheck"
            if condition == "service_completed_successfully":
                assert str(services[other].get("restart", "no")) == "no", f"{other} never completes"
    assert services["forgood-sink"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert services["forgood-worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert (services["forgood-simulator"]["depends_on"]["forgood-campaigns"]["condition"]
            == "service_completed_successfully")


def test_long_running_services_restart(services):
    for name, service in services.items():
        if name == "forgood-campaigns":
            continue
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name


# --- health checks -----------------------------------------------------------------------

def test_health_checks_exist(services):
    for name in MUST_HAVE_HEALTHCHECK:
        words = healthcheck_words(services[name])
        assert words and words[0] not in ("NONE",), f"{name}: no health check"
        assert not services[name]["healthcheck"].get("disable"), f"{name}: health check disabled"


def test_forgood_health_checks_probe_their_metrics_port(forgood_services):
    for name, field in (("forgood-worker", "worker_metrics_port"), ("forgood-sink", "sink_metrics_port")):
        port = getattr(settings_for(forgood_services[name]), field)
        assert port, f"{name}: metrics are off"
        assert f":{port}/metrics" in " ".join(healthcheck_words(forgood_services[name])), name


# --- volumes, ports, mounts --------------------------------------------------------------

def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    assert declared, "no named volumes"
    for name, service in services.items():
        for source, _ in mounts(service):
            if not is_path(source):
                assert source in declared, f"{name}: volume {source} is not declared"
    for name in MUST_HAVE_NAMED_VOLUME:
        assert any(not is_path(s) for s, _ in mounts(services[name])), f"{name} keeps no data in a named volume"


def test_published_ports_bind_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port} is not bound to 127.0.0.1"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not bound to 127.0.0.1"


def deploy_mounts() -> list[tuple[str, str]]:
    services = load_yaml(COMPOSE_FILE)["services"]
    return sorted({(name, source) for name, s in services.items() for source, _ in mounts(s)
                   if source.startswith("./deploy/")})


@pytest.mark.parametrize(("service", "source"), deploy_mounts())
def test_deploy_mounts_exist(service, source):
    relative = source[2:].rstrip("/")
    assert (ROOT / relative).exists(), f"{service} mounts {source}, which does not exist"


def test_expected_deploy_mounts(services):
    assert ("./deploy/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml") in mounts(services["prometheus"])
    assert ("./deploy/prometheus/rules", "/etc/prometheus/rules") in mounts(services["prometheus"])
    assert ("./deploy/alertmanager/alertmanager.yml", "/etc/alertmanager/alertmanager.yml") in mounts(
        services["alertmanager"])
    assert ("./deploy/grafana/provisioning", "/etc/grafana/provisioning") in mounts(services["grafana"])
    assert ("./deploy/grafana/dashboards", "/var/lib/grafana/dashboards") in mounts(services["grafana"])


# --- secrets -----------------------------------------------------------------------------

def test_no_plaintext_secrets(services):
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key):
                assert value == "" or is_reference(value), f"{name}: {key} holds a literal secret"
            # Credentials inside URLs must be references too.
            for url in re.findall(r"[a-z][a-z0-9+.-]*://[^\s,]+", value):
                userinfo = url.split("://", 1)[1].split("@", 1)
                if len(userinfo) == 2 and ":" in userinfo[0]:
                    password = userinfo[0].split(":", 1)[1]
                    assert password == "" or is_reference(password), f"{name}: {key} has a password in its URL"


def test_grafana_admin_password_and_pinned_clickhouse_plugin(services):
    env = environment(services["grafana"])
    assert is_reference(env["GF_SECURITY_ADMIN_PASSWORD"])
    plugins = (env.get("GF_PLUGINS_PREINSTALL_SYNC") or env.get("GF_PLUGINS_PREINSTALL")
               or env.get("GF_INSTALL_PLUGINS", ""))
    entry = next((p.strip() for p in plugins.split(",") if p.strip().startswith("grafana-clickhouse-datasource")), None)
    assert entry, "grafana-clickhouse-datasource is not installed"
    assert re.fullmatch(r"grafana-clickhouse-datasource(@| )\d+\.\d+\.\d+", entry), f"plugin not pinned: {entry}"


# --- the other services' settings --------------------------------------------------------

def test_kafka_is_single_node_kraft_with_a_valid_cluster_id(services):
    env = environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    protocols = dict(p.split(":", 1) for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    data_dir = env["KAFKA_LOG_DIRS"]
    assert any(target == data_dir and not is_path(source) for source, target in mounts(services["kafka"]))


def kafka_properties(service: dict) -> dict[str, str]:
    """The apache/kafka image's KAFKA_* variables as broker properties (its own mapping:
    strip KAFKA_, lower-case, ``_`` -> ``.``)."""
    return {
        name[len("KAFKA_"):].lower().replace("_", "."): str(value)
        for name, value in environment(service).items()
        if name.startswith("KAFKA_")
    }


def test_kafka_runs_the_version_the_local_stack_runs(services):
    from forgood.stack.kafka import kafka_version

    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"


def test_kafka_settings_agree_with_the_local_stack_where_it_matters(services):
    """Replication factors and min ISR of internal topics, auto-creation and the first-join
    delay are the same in compose and in ``forgood stack`` (forgood/stack/kafka.py)."""
    from forgood.stack.kafka import SINGLE_NODE_SETTINGS

    compose = kafka_properties(services["kafka"])
    matters = {
        key: value for key, value in SINGLE_NODE_SETTINGS.items()
        if key.endswith((".replication.factor", ".min.isr"))
        or key in {"auto.create.topics.enable", "group.initial.rebalance.delay.ms"}
    }  # fmt: skip
    assert len(matters) >= 7
    assert {key: compose.get(key) for key in matters} == matters


def test_kafka_listeners_match_the_local_stack_ports(services, forgood_services):
    """Clients reach compose's Kafka on 9092 inside the network, as the local stack's on
    127.0.0.1:9092; the host port compose publishes is loopback-only and advertised as such;
    forgood's partition and replication settings are the local defaults."""
    compose = kafka_properties(services["kafka"])
    listeners = dict(item.split("://", 1) for item in compose["listeners"].split(","))
    assert listeners["PLAINTEXT"] == ":9092" and Settings().kafka_bootstrap.endswith(":9092")
    advertised = dict(item.split("://", 1) for item in compose["advertised.listeners"].split(","))
    published = {p.split(":", 1)[0]: p for p in services["kafka"]["ports"]}
    assert set(published) == {"127.0.0.1"}
    host_port = published["127.0.0.1"].rsplit(":", 1)[1]
    assert advertised["EXTERNAL"] == f"127.0.0.1:{host_port}"
    for name, service in forgood_services.items():
        settings = settings_for(service)
        assert (settings.partitions, settings.replication_factor) == (Settings().partitions, 1), name


def test_clickhouse_raises_the_open_files_limit(services):
    nofile = services["clickhouse"]["ulimits"]["nofile"]
    assert int(nofile["soft"]) >= 262144 and int(nofile["hard"]) >= 262144


# --- Dockerfile and .dockerignore --------------------------------------------------------

def test_dockerfile_pins_its_base_and_runs_as_non_root():
    instructions = dockerfile_instructions()
    stages = set()
    froms = [args for instr, args in instructions if instr == "FROM"]
    assert froms, "no FROM"
    for args in froms:
        words = args.split()
        image = next(w for w in words if not w.startswith("--"))
        if image not in stages:
            assert image_is_pinned(image), f"FROM {image} is not pinned"
            assert image.startswith("python:3.11-slim-bookworm"), image
        if len(words) >= 3 and words[-2].upper() == "AS":
            stages.add(words[-1])
    final = [instr_args for instr_args in instructions[
        max(i for i, (instr, _) in enumerate(instructions) if instr == "FROM"):]]
    users = [args for instr, args in final if instr == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"runs as {user}"
    assert ("ENTRYPOINT", '["forgood"]') in final
    exposed = {p.split("/")[0] for instr, args in final if instr == "EXPOSE" for p in args.split()}
    defaults = Settings.model_fields
    assert {str(defaults["worker_metrics_port"].default), str(defaults["sink_metrics_port"].default)} <= exposed
    assert any(instr == "RUN" and "pip install --no-cache-dir ." in args for instr, args in instructions)


def test_dockerfile_copies_everything_the_package_is_built_from():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tops = [pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    needed = tops + ["pyproject.toml", pyproject["project"]["readme"]]
    copied = set()
    for instr, args in dockerfile_instructions():
        if instr == "COPY" and "--from" not in args:
            copied.update(w.rstrip("/") for w in args.split()[:-1])
    missing = [n for n in needed if n not in copied]
    assert not missing, f"the Dockerfile does not copy {missing}"


def test_dockerignore_keeps_local_state_and_secrets_out():
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for required in (".venv", ".forgood", ".git", ".env", ".pytest_cache", ".hypothesis"):
        assert required in patterns, f".dockerignore lacks {required}"
    assert any("__pycache__" in p for p in patterns)
    # Nothing the build copies may be ignored.
    for needed in ("forgood", "pyproject.toml", "README.md", "campaigns.example.yaml"):
        assert needed not in patterns


# --- Prometheus --------------------------------------------------------------------------

def scrape_targets(config: dict) -> dict[str, list[str]]:
    return {job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
            for job in config["scrape_configs"]}


def test_prometheus_scrapes_the_forgood_metrics_ports(prometheus_config, forgood_services):
    targets = {t for ts in scrape_targets(prometheus_config).values() for t in ts}
    for name, field in (("forgood-worker", "worker_metrics_port"), ("forgood-sink", "sink_metrics_port")):
        port = getattr(settings_for(forgood_services[name]), field)
        assert f"{name}:{port}" in targets, f"Prometheus does not scrape {name}:{port}"


def test_prometheus_targets_are_compose_services(prometheus_config, services):
    for job, targets in scrape_targets(prometheus_config).items():
        for target in targets:
            host = target.rsplit(":", 1)[0]
            assert host in services or host in ("localhost", "127.0.0.1"), f"{job}: unknown host {host}"
            if host in services and host.startswith("forgood-"):
                env = environment(services[host])
                assert target.rsplit(":", 1)[1] in env.values(), f"{job}: {target} is not a port {host} serves"
    assert "prometheus" in scrape_targets(prometheus_config)


def test_prometheus_rules_and_alerting(prometheus_config, services):
    rule_dirs = [target for source, target in mounts(services["prometheus"]) if source.rstrip("/").endswith("rules")]
    assert prometheus_config["rule_files"], "no rule_files"
    for pattern in prometheus_config["rule_files"]:
        assert any(pattern.startswith(d.rstrip("/") + "/") for d in rule_dirs), f"{pattern} is not in a mounted folder"
    alertmanagers = [t for am in prometheus_config["alerting"]["alertmanagers"]
                     for sc in am["static_configs"] for t in sc["targets"]]
    assert "alertmanager:9093" in alertmanagers
    assert "alertmanager" in services

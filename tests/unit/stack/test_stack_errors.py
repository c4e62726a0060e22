"""The local stack's pure parts and its failures, without starting Kafka or ClickHouse."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import forgood.stack.local as stack_local
from forgood import stack
from forgood.domain.errors import StackError
from forgood.domain.settings import Settings
from forgood.stack import clickhouse as clickhouse_module
from forgood.stack import kafka as kafka_module
from forgood.stack.clickhouse import ClickHouse, find_server_command, render_config, render_users
from forgood.stack.endpoints import Endpoint, first_bootstrap_server, is_loopback_host, parse_host_port
from forgood.stack.kafka import Kafka, read_properties
from forgood.stack.layout import StackLayout
from forgood.stack.ports import (
    listening_inodes,
    maybe_listening,
    port_in_use,
    port_owner,
    port_taken_message,
)
from forgood.stack.process import log_size, log_tail, write_pid
from forgood.stack.service import LocalService, ServiceStatus


@pytest.fixture
def listener():
    """A socket this test listens on, on a port the kernel picked."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_on(tmp_path: Path, kafka_port: int, native_port: int, http_port: int, **more) -> Settings:
    """Settings with every stack port free or given, and state under ``tmp_path``."""
    ports = {"kafka_controller_port": free_port()}
    for name in ("prometheus_port", "alertmanager_port"):
        if name in Settings.model_fields:
            ports[name] = free_port()
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        clickhouse_url=f"clickhouse://127.0.0.1:{native_port}/forgood",
        clickhouse_http_port=http_port,
        state_dir=tmp_path,
        **{**ports, **more},
    )


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9092", Endpoint("127.0.0.1", 9092)),
        ("localhost", Endpoint("localhost", 9092)),
        (" kafka.example:19092 ", Endpoint("kafka.example", 19092)),
        ("[::1]:9093", Endpoint("::1", 9093)),
        ("[::1]", Endpoint("::1", 9092)),
    ],
)
def test_parse_host_port(text, expected):
    assert parse_host_port(text, 9092) == expected


@pytest.mark.parametrize("text", ["", ":9092", "host:0", "host:65536", "host:x", "[::1", "[::1]9092"])
def test_parse_host_port_rejects_malformed_addresses(text):
    with pytest.raises(StackError, match="FORGOOD_KAFKA_BOOTSTRAP"):
        parse_host_port(text, 9092, what="FORGOOD_KAFKA_BOOTSTRAP")


def test_first_bootstrap_server_takes_the_first_entry():
    assert first_bootstrap_server("127.0.0.1:19092,other:9092") == Endpoint("127.0.0.1", 19092)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.3.2.1", "::1"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "kafka.example", "::", "192.0.2.1"])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback_host(host)


def test_endpoint_text_and_bind_host():
    assert str(Endpoint("::1", 9000)) == "[::1]:9000"
    assert str(Endpoint("127.0.0.1", 9000)) == "127.0.0.1:9000"
    assert Endpoint("localhost", 9000).bind_host == "127.0.0.1"
    assert Endpoint("127.0.0.2", 9000).bind_host == "127.0.0.2"


# --- ports -------------------------------------------------------------------------------


def test_port_in_use_sees_a_listening_socket_and_names_its_process(listener):
    port = listener.getsockname()[1]
    assert port_in_use(Endpoint("127.0.0.1", port))
    owner = port_owner(port)
    assert owner is not None and f"pid {os.getpid()}" in owner


def test_a_closed_port_is_free():
    assert not port_in_use(Endpoint("127.0.0.1", free_port()))


def test_listening_inodes_reads_proc_net_tcp():
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n"
        "   1: 0100007F:2384 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n"
        "   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1\n"
    )
    assert listening_inodes(text, 9092) == {4242}  # 0x2384; the established socket is ignored
    assert listening_inodes(text, 8080) == {4444}
    assert listening_inodes(text, 1234) == set()


def test_port_taken_message_says_what_who_and_how_to_fix(listener):
    port = listener.getsockname()[1]
    message = port_taken_message("broker", "Kafka", Endpoint("127.0.0.1", port), "set X to a free port")
    assert f"127.0.0.1:{port}" in message
    assert f"pid {os.getpid()}" in message
    assert "Kafka port" in message and "set X to a free port" in message


# --- ClickHouse config -------------------------------------------------------------------


def test_render_config_has_the_ports_and_keeps_every_path_in_the_state_folder(tmp_path):
    text = render_config(
        listen_host="127.0.0.1",
        tcp_port=19000,
        http_port=18123,
        interserver_http_port=19009,
        data_dir=tmp_path / "clickhouse",
        logs_dir=tmp_path / "logs",
    )
    root = ET.fromstring(text)
    assert root.tag == "yandex"
    assert root.findtext("listen_host") == "127.0.0.1"
    assert root.findtext("tcp_port") == "19000"
    assert root.findtext("http_port") == "18123"
    assert root.findtext("interserver_http_port") == "19009"
    for tag in ("path", "tmp_path", "user_files_path", "format_schema_path"):
        value = root.findtext(tag)
        assert value.startswith(str(tmp_path / "clickhouse")) and value.endswith("/"), tag
    assert root.findtext("logger/log") == str(tmp_path / "logs" / "clickhouse-server.log")
    assert root.findtext("logger/errorlog") == str(tmp_path / "logs" / "clickhouse-server.err.log")
    assert root.findtext("logger/level") in ("information", "warning")
    assert "/var/lib" not in text and "/etc/" not in text


def test_render_users_allows_the_default_user_from_loopback_only():
    root = ET.fromstring(render_users())
    user = root.find("users/default")
    assert user is not None
    assert user.findtext("password") == ""
    assert sorted(ip.text for ip in user.findall("networks/ip")) == ["127.0.0.1", "::1"]
    assert user.findtext("profile") == "default" and root.find("profiles/default") is not None
    assert user.findtext("quota") == "default" and root.find("quotas/default") is not None


def test_render_users_escapes_the_password_and_refuses_odd_user_names():
    root = ET.fromstring(render_users("forgood", "p<&>w"))
    assert root.findtext("users/forgood/password") == "p<&>w"
    with pytest.raises(StackError, match="letters, digits and _"):
        render_users("bad-name")


def test_clickhouse_ports_follow_the_settings(tmp_path):
    settings = settings_on(tmp_path, 19092, 19100, 18200)
    service = ClickHouse(settings, StackLayout.for_settings(settings))
    assert [(label, ep.port) for label, ep in service.ports()] == [
        ("native", 19100), ("HTTP", 18200), ("interserver", 19109),
    ]  # fmt: skip
    assert service.config_file.is_relative_to(tmp_path.resolve() / "stack")
    assert "<tcp_port>19100</tcp_port>" in service.config_text()


def test_clickhouse_native_port_must_leave_room_for_the_interserver_port(tmp_path):
    settings = settings_on(tmp_path, 19092, 65530, 18200)
    with pytest.raises(StackError, match="interserver"):
        ClickHouse(settings, StackLayout.for_settings(settings))


@pytest.fixture
def kafka_libs(tmp_path, monkeypatch):
    """A fake resolved Kafka (one empty jar of the right name) and a fake ``java``."""
    version = kafka_module.kafka_version()
    libs = tmp_path / "kafka-home" / f"kafka-{version}" / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{version}.jar").write_bytes(b"")
    monkeypatch.setattr(kafka_module.shutil, "which", lambda name: "/opt/jdk/bin/java" if name == "java" else None)
    return tmp_path / "kafka-home"


def kafka_on(tmp_path: Path, home: Path, port: int = 19092, controller: int = 19094) -> Kafka:
    settings = settings_on(tmp_path, port, 19100, 18200, kafka_controller_port=controller, kafka_home=home)
    return Kafka(settings, StackLayout.for_settings(settings))


def test_kafka_command_runs_the_resolved_jars_with_a_bounded_heap(tmp_path, kafka_libs):
    kafka = kafka_on(tmp_path, kafka_libs)
    argv = kafka.command()
    assert argv[0] == "/opt/jdk/bin/java"
    assert "-Xmx512m" in argv and "-Xms512m" in argv
    assert argv[argv.index("-cp") + 1] == str(kafka.libs_dir / "*")
    assert argv[-2:] == ["kafka.Kafka", str(kafka.config_file)]
    assert kafka.is_ours(["/usr/bin/java", "-cp", "x", "kafka.Kafka", str(kafka.config_file)])
    assert not kafka.is_ours(["/usr/bin/java", "kafka.Kafka", "/elsewhere/server.properties"])
    assert kafka.describe_version() == f"Apache Kafka {kafka_module.kafka_version()}"


def test_kafka_config_is_one_kraft_node_on_the_configured_loopback_ports(tmp_path, kafka_libs):
    kafka = kafka_on(tmp_path, kafka_libs, port=19092, controller=19094)
    kafka.config_file.parent.mkdir(parents=True)
    kafka.config_file.write_text(kafka.config_text())
    props = read_properties(kafka.config_file)
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19094"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19094"
    assert "controller.quorum.voters" not in props  # 4.1+ refuses it with --standalone
    assert props["log.dirs"] == str(kafka.data_dir)
    assert props["offsets.topic.replication.factor"] == "1"
    assert [(label, ep.port) for label, ep in kafka.ports()] == [("Kafka", 19092), ("KRaft controller", 19094)]
    assert kafka.mismatch([]) is None
    moved = kafka_on(tmp_path, kafka_libs, port=19093, controller=19094)
    assert "other ports" in moved.mismatch([])


def test_kafka_without_java_says_how_to_install_it(tmp_path, kafka_libs, monkeypatch):
    monkeypatch.setattr(kafka_module.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match="make setup") as caught:
        kafka_on(tmp_path, kafka_libs).preflight()
    assert "Java 17" in str(caught.value)


def test_kafka_not_resolved_yet_says_run_make_setup(tmp_path, kafka_libs):
    kafka = kafka_on(tmp_path, tmp_path / "empty-home")
    with pytest.raises(StackError, match="not resolved yet") as caught:
        kafka.preflight()
    assert "make setup" in str(caught.value) and str(kafka.libs_dir) in str(caught.value)


def test_kafka_refuses_a_log_dir_that_is_not_formatted(tmp_path, kafka_libs):
    kafka = kafka_on(tmp_path, kafka_libs)
    kafka.data_dir.mkdir(parents=True)
    (kafka.data_dir / "something-else").write_text("x")
    with pytest.raises(StackError, match="not a formatted") as caught:
        kafka.preflight()
    assert "forgood stack reset" in str(caught.value)


def test_kafka_refuses_a_log_dir_of_another_cluster_or_version(tmp_path, kafka_libs):
    kafka = kafka_on(tmp_path, kafka_libs)
    kafka.data_dir.mkdir(parents=True)
    kafka.cluster_id_file.write_text("ourClusterId0000000000\n")
    meta = kafka.data_dir / "meta.properties"
    meta.write_text("node.id=1\ncluster.id=someoneElsesCluster000\nversion=1\n")
    with pytest.raises(StackError, match="another cluster"):
        kafka.preflight()
    meta.write_text("node.id=1\ncluster.id=ourClusterId0000000000\nversion=1\n")
    kafka.preflight()  # ours: fine
    (kafka.data_dir / kafka_module.VERSION_FILE).write_text("3.9.0\n")
    with pytest.raises(StackError, match="formatted by Kafka 3.9.0"):
        kafka.preflight()


def test_kafka_cluster_ids_are_what_the_storage_tool_accepts():
    ids = {kafka_module.random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)


def test_kafka_version_comes_from_the_build_file(tmp_path):
    pom = tmp_path / "pom.xml"
    pom.write_text("<project><properties><kafka.version>9.9.9</kafka.version></properties></project>")
    assert kafka_module.kafka_version(pom) == "9.9.9"
    pom.write_text("<project/>")
    with pytest.raises(StackError, match="kafka.version"):
        kafka_module.kafka_version(pom)


def test_stack_files_live_under_the_state_folder_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layout = StackLayout.for_settings(Settings(state_dir=Path(".forgood")))
    assert layout.root == tmp_path.resolve() / ".forgood" / "stack"


# --- missing programs ----------------------------------------------------------------------


def test_missing_clickhouse_server_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(clickhouse_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(clickhouse_module, "SERVER_PATHS", ())
    with pytest.raises(StackError) as caught:
        find_server_command()
    assert "make setup" in str(caught.value)
    assert "apt-get install clickhouse-server" in str(caught.value)


def test_single_clickhouse_binary_runs_as_clickhouse_server(monkeypatch):
    monkeypatch.setattr(
        clickhouse_module.shutil, "which", lambda name: "/opt/clickhouse" if name == "clickhouse" else None
    )
    monkeypatch.setattr(clickhouse_module, "SERVER_PATHS", ())
    assert find_server_command() == ["/opt/clickhouse", "server"]


def test_up_starts_nothing_when_clickhouse_is_missing(tmp_path, monkeypatch):
    def missing():
        raise StackError("clickhouse-server is not installed: install it with `make setup`")

    monkeypatch.setattr(clickhouse_module, "find_server_command", missing)
    settings = settings_on(tmp_path, free_port(), free_port(), free_port())
    with pytest.raises(StackError, match="make setup"):
        stack.up(settings, timeout=5, only={"clickhouse"})
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))


# --- up / down failures ------------------------------------------------------------------


def test_up_fails_fast_when_the_kafka_port_is_taken(tmp_path, listener):
    port = listener.getsockname()[1]
    settings = settings_on(tmp_path, port, free_port(), free_port())
    with pytest.raises(StackError) as caught:
        stack.up(settings, timeout=5)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and f"pid {os.getpid()}" in message
    assert "FORGOOD_KAFKA_BOOTSTRAP" in message
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))


def test_up_fails_fast_when_the_kafka_controller_port_is_taken(tmp_path, listener):
    port = listener.getsockname()[1]
    settings = settings_on(tmp_path, free_port(), free_port(), free_port(), kafka_controller_port=port)
    with pytest.raises(StackError) as caught:
        stack.up(settings, timeout=5)
    message = str(caught.value)
    assert "KRaft controller" in message and f"pid {os.getpid()}" in message
    assert "FORGOOD_KAFKA_CONTROLLER_PORT" in message


class ExitingService(LocalService):
    """Starts a program that prints a complaint and exits at once."""

    name = "fake"
    how_to_move = "pick another port"

    def __init__(self, layout: StackLayout, port: int) -> None:
        super().__init__(layout)
        self._endpoint = Endpoint("127.0.0.1", port)

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def ports(self):
        return [("fake", self._endpoint)]

    @property
    def log_file(self) -> Path:
        return self.layout.logs_dir / "fake.log"

    def command(self):
        return [sys.executable, "-c", "print('boom: cannot open the data folder'); raise SystemExit(3)"]

    def is_ours(self, argv):
        return "boom" in " ".join(argv)

    def mismatch(self, argv):
        return None

    def answers(self, timeout):
        return False


def test_up_reports_the_log_tail_of_a_process_that_dies_while_starting(tmp_path, monkeypatch):
    layout = StackLayout(tmp_path / "stack")
    service = ExitingService(layout, free_port())
    monkeypatch.setattr(stack_local, "services", lambda settings, only=None: [service])
    with pytest.raises(StackError) as caught:
        stack.up(Settings(state_dir=tmp_path), timeout=10)
    message = str(caught.value)
    assert "exited during start-up" in message
    assert "boom: cannot open the data folder" in message
    assert not service.pid_file.exists()


def test_down_with_a_stale_pid_file_removes_it_and_kills_nothing(tmp_path):
    settings = settings_on(tmp_path, free_port(), free_port(), free_port())
    layout = StackLayout.for_settings(settings)
    write_pid(layout.pid_file("kafka"), os.getpid())  # alive, but not a Kafka process
    write_pid(layout.pid_file("clickhouse"), 2**22 + 1)  # no such process
    result = stack.down(settings, timeout=2)
    assert {s.detail for s in result} == {"was not running"}
    assert not list(layout.run_dir.glob("*.pid"))


def test_status_of_a_stopped_stack(tmp_path):
    settings = settings_on(tmp_path, free_port(), free_port(), free_port())
    result = stack.status(settings, probe_timeout=1, only={"kafka", "clickhouse"})
    assert [(s.name, s.pid, s.running, s.answering, s.managed) for s in result] == [
        ("kafka", None, False, False, True),
        ("clickhouse", None, False, False, True),
    ]
    assert result[1].log == tmp_path.resolve() / "stack" / "logs" / "clickhouse-server.log"


def test_remote_services_are_not_managed(tmp_path):
    settings = Settings(
        kafka_bootstrap="192.0.2.1:9092",
        clickhouse_url="clickhouse://192.0.2.1:9000/forgood",
        state_dir=tmp_path,
    )
    result = stack.status(settings, probe_timeout=0.3, only={"kafka", "clickhouse"})
    assert [s.managed for s in result] == [False, False]
    assert all(s.log is None and "not local" in s.detail for s in result)
    with pytest.raises(StackError, match="not a loopback address"):
        stack.up(settings, timeout=0.5, only={"kafka", "clickhouse"})


def test_unknown_service_names_are_refused(tmp_path):
    with pytest.raises(StackError, match="no stack service named nope"):
        stack.status(Settings(state_dir=tmp_path), only={"nope"})


def test_reset_deletes_the_data_of_a_stopped_stack_and_keeps_logs(tmp_path, kafka_libs):
    settings = settings_on(tmp_path, free_port(), free_port(), free_port(), kafka_home=kafka_libs)
    layout = StackLayout.for_settings(settings)
    kafka_data = layout.work_dir("kafka") / "data"
    clickhouse_data = layout.work_dir("clickhouse") / "data"
    for folder in (kafka_data, clickhouse_data, layout.logs_dir):
        folder.mkdir(parents=True)
    (kafka_data / "meta.properties").write_text("node.id=1\n")
    (layout.logs_dir / "kafka-server.log").write_text("kept\n")
    result = stack.reset(settings, timeout=2, only={"kafka", "clickhouse"})
    assert {s.detail for s in result} == {"stopped, data deleted"}
    assert not kafka_data.exists() and not clickhouse_data.exists()
    assert (layout.logs_dir / "kafka-server.log").read_text() == "kept\n"


def test_service_status_is_frozen():
    status = ServiceStatus("kafka", "127.0.0.1:9092", None, False, False, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.running = True  # type: ignore[misc]


def test_log_tail_shows_only_lines_after_the_offset(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("old 1\nold 2\n")
    offset = log_size(log)
    with open(log, "a") as out:
        out.write("".join(f"new {i}\n" for i in range(40)))
    tail = log_tail(log, since=offset, lines=5)
    assert tail.splitlines() == [f"new {i}" for i in range(35, 40)]
    assert log_tail(tmp_path / "missing.log") == ""


def test_maybe_listening_checks_loopback_ports_without_connecting(listener):
    port = listener.getsockname()[1]
    listener.settimeout(0.2)
    assert maybe_listening(Endpoint("127.0.0.1", port), timeout=0.5)
    with pytest.raises(socket.timeout):
        listener.accept()  # nobody connected
    assert not maybe_listening(Endpoint("127.0.0.1", free_port()), timeout=0.5)


def test_stack_reset_command_asks_for_yes_when_not_on_a_terminal(tmp_path, monkeypatch):
    """`forgood stack reset` deletes data: without --yes and without a terminal it refuses."""
    import subprocess

    env = {**os.environ, "FORGOOD_STATE_DIR": str(tmp_path)}
    data = tmp_path / "stack" / "kafka" / "data"
    data.mkdir(parents=True)
    refused = subprocess.run([sys.executable, "-m", "forgood.cli", "stack", "reset"], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert data.exists()

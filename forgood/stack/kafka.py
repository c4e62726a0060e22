"""Apache Kafka as the local broker: one combined broker + controller (KRaft) from Maven jars.

``scripts/setup.sh`` resolves the jars listed in ``deploy/kafka/pom.xml`` once into
``<FORGOOD_KAFKA_HOME>/kafka-<version>/libs``; this module writes ``server.properties`` and a
log4j2 config under ``<state_dir>/stack/kafka``, formats the log directory once (KRaft
``StorageTool format --standalone``) and runs ``java ... kafka.Kafka server.properties``.

Data lives in ``<state_dir>/stack/kafka/data`` and survives ``stack down``/``up`` and a
SIGKILL of the broker; only ``forgood stack reset`` deletes it.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from forgood.domain.errors import StackError
from forgood.domain.settings import Settings

from .endpoints import Endpoint, first_bootstrap_server
from .layout import StackLayout
from .ports import maybe_listening
from .programs import REPO, read_text, write_if_changed
from .service import LocalService

POM = REPO / "deploy" / "kafka" / "pom.xml"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
NODE_ID = 1
FORMAT_TIMEOUT_S = 120.0
#: Written into the data folder after formatting: the Kafka version that formatted it.
VERSION_FILE = "forgood-kafka-version"

_JVM_FLAGS = [
    "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
]  # fmt: skip

_LOG4J2 = """\
status = warn
name = kafka
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
appender.stderr.filter.threshold.type = ThresholdFilter
appender.stderr.filter.threshold.level = WARN
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir:-.}/kafka-server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stderr.ref = STDERR
rootLogger.appenderRef.file.ref = FILE
"""

_TOOLS_LOG4J2 = """\
status = warn
name = kafka-tools
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
"""

#: Broker settings for a one-node local cluster on a small machine. Internal topics have one
#: replica (there is one broker); tests/deploy/test_compose.py checks docker-compose.yml agrees.
SINGLE_NODE_SETTINGS: dict[str, str] = {
    "num.partitions": "1",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    "log.cleaner.dedupe.buffer.size": "2097152",
}


def kafka_version(pom: Path = POM) -> str:
    """The pinned Kafka version: ``<kafka.version>`` of ``deploy/kafka/pom.xml``."""
    try:
        found = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    except OSError as exc:
        raise StackError(f"cannot read the Kafka build file {pom}: {exc}") from exc
    if not found:
        raise StackError(f"{pom} names no <kafka.version>")
    return found.group(1)


def find_java() -> str:
    """Path of ``java``; StackError (how to install it) if there is none."""
    found = shutil.which("java")
    if not found:
        raise StackError(
            "Apache Kafka needs Java 17 or newer and no `java` is on PATH: run `make setup` "
            "(installs Debian's openjdk-17-jre-headless) or install a JDK yourself"
        )
    return found


def random_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding (what ``StorageTool random-uuid`` prints),
    never starting with ``-`` (the tool would read it as an option)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def read_properties(path: Path) -> dict[str, str]:
    """A Java ``.properties`` file as a dict (``key=value`` lines; comments skipped)."""
    result = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            result[key.strip()] = value.strip()
    return result


class Kafka(LocalService):
    """Apache Kafka on the first address of ``FORGOOD_KAFKA_BOOTSTRAP``; KRaft controller on
    ``FORGOOD_KAFKA_CONTROLLER_PORT`` of the same host."""

    name = "kafka"
    how_to_move = (
        "set FORGOOD_KAFKA_BOOTSTRAP (e.g. 127.0.0.1:19092) and FORGOOD_KAFKA_CONTROLLER_PORT "
        "to free ports"
    )

    def __init__(self, settings: Settings, layout: StackLayout) -> None:
        super().__init__(layout)
        self._endpoint = first_bootstrap_server(settings.kafka_bootstrap)
        self.controller = self._endpoint.with_port(settings.kafka_controller_port)
        self.heap_mb = settings.kafka_heap_mb
        self.version = kafka_version()
        self.home = Path(settings.kafka_home).expanduser().resolve() / f"kafka-{self.version}"

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def ports(self) -> list[tuple[str, Endpoint]]:
        return [("Kafka", self.endpoint), ("KRaft controller", self.controller)]

    # --- files ---------------------------------------------------------------------------

    @property
    def libs_dir(self) -> Path:
        return self.home / "libs"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def config_file(self) -> Path:
        return self.work_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.work_dir / "log4j2.properties"

    @property
    def tools_log4j_file(self) -> Path:
        return self.work_dir / "tools-log4j2.properties"

    @property
    def cluster_id_file(self) -> Path:
        return self.work_dir / "cluster-id"

    @property
    def log_file(self) -> Path:
        return self.layout.logs_dir / "kafka-server.log"

    @property
    def stdout_log(self) -> Path:
        return self.layout.logs_dir / "kafka.stdout.log"

    def failure_logs(self) -> list[Path]:
        return [self.stdout_log]

    def describe_version(self) -> str:
        return f"Apache Kafka {self.version}"

    # --- configuration -------------------------------------------------------------------

    def config_text(self) -> str:
        """server.properties: one KRaft node, both listeners on the loopback host."""
        host = self.endpoint.bind_host
        kafka = f"PLAINTEXT://{_url_host(host)}:{self.endpoint.port}"
        controller = f"CONTROLLER://{_url_host(host)}:{self.controller.port}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.bootstrap.servers": f"{_url_host(host)}:{self.controller.port}",
            "listeners": f"{kafka},{controller}",
            "advertised.listeners": f"PLAINTEXT://{_url_host(self.endpoint.host)}:{self.endpoint.port},"
            f"{controller}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            **SINGLE_NODE_SETTINGS,
        }
        lines = ["# Written by `forgood stack up` (forgood/stack/kafka.py); edits are overwritten."]
        return "\n".join([*lines, *(f"{k}={v}" for k, v in settings.items())]) + "\n"

    def _classpath(self) -> str:
        return str(self.libs_dir / "*")  # the JVM expands the wildcard itself

    def _check_installed(self) -> str:
        java = find_java()
        if not any(self.libs_dir.glob("kafka_2.13-*.jar")):
            raise StackError(
                f"Apache Kafka {self.version} is not resolved yet (no jars in {self.libs_dir}): "
                "run `make setup` (it resolves deploy/kafka/pom.xml with Maven once)"
            )
        return java

    def preflight(self) -> None:
        """Before a start: Java and the jars are there, and the data folder is ours or empty.

        Raises StackError for a log directory that was formatted by another Kafka version or
        another cluster, or that holds files but no ``meta.properties`` (not a Kafka log dir).
        """
        self._check_installed()
        meta = self.data_dir / "meta.properties"
        if meta.exists():
            props = read_properties(meta)
            ours = _read_text(self.cluster_id_file)
            if props.get("node.id") != str(NODE_ID) or (ours and props.get("cluster.id") != ours):
                raise StackError(
                    f"the Kafka log directory {self.data_dir} belongs to another cluster "
                    f"(cluster.id {props.get('cluster.id')}, node.id {props.get('node.id')}); "
                    "run `forgood stack reset` to wipe it, or set FORGOOD_STATE_DIR elsewhere"
                )
            formatted_by = _read_text(self.data_dir / VERSION_FILE)
            if formatted_by and formatted_by != self.version:
                raise StackError(
                    f"the Kafka log directory {self.data_dir} was formatted by Kafka {formatted_by}, "
                    f"this stack runs {self.version} (formatted data is not portable across "
                    "versions): run `forgood stack reset` to wipe it"
                )
        elif self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StackError(
                f"{self.data_dir} holds files but no meta.properties, so it is not a formatted "
                "Kafka log directory: run `forgood stack reset` to wipe it"
            )

    def prepare(self) -> None:
        """Write the config files; format the log directory if it never was (blocks ~2 s).

        StackError if the storage tool fails (its output is in the message).
        """
        java = self._check_installed()
        for folder in (self.work_dir, self.data_dir, self.layout.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.config_file, self.config_text())
        write_if_changed(self.log4j_file, _LOG4J2)
        write_if_changed(self.tools_log4j_file, _TOOLS_LOG4J2)
        if not (self.data_dir / "meta.properties").exists():
            self._format(java)

    def _format(self, java: str) -> None:
        cluster_id = _read_text(self.cluster_id_file) or random_cluster_id()
        argv = [
            java, "-Xmx256m", f"-Dlog4j2.configurationFile={self.tools_log4j_file}",
            "-cp", self._classpath(), STORAGE_TOOL, "format", "--standalone",
            "-t", cluster_id, "-c", str(self.config_file),
        ]  # fmt: skip
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"formatting the Kafka log directory {self.data_dir} failed: {exc}") from exc
        if done.returncode != 0:
            raise StackError(
                f"formatting the Kafka log directory {self.data_dir} failed (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )
        self.cluster_id_file.write_text(cluster_id + "\n")
        (self.data_dir / VERSION_FILE).write_text(self.version + "\n")

    def command(self) -> list[str]:
        java = self._check_installed()
        return [
            java, f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", *_JVM_FLAGS,
            f"-Dkafka.logs.dir={self.layout.logs_dir}",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            "-cp", self._classpath(), MAIN_CLASS, str(self.config_file),
        ]  # fmt: skip

    def is_ours(self, argv: list[str]) -> bool:
        return MAIN_CLASS in argv and str(self.config_file) in argv

    def mismatch(self, argv: list[str]) -> str | None:
        if _read_text(self.config_file) == self.config_text().strip():
            return None
        return f"its {self.config_file} was written for other ports or paths"

    def answers(self, timeout: float) -> bool:
        """A TCP connect, then a Kafka metadata request (kafka-python admin ``list_topics``).

        The client listener opens only once the node has caught up with its metadata log and
        is unfenced, so an answer means the broker takes requests.
        """
        if not maybe_listening(self.endpoint, timeout=min(timeout, 1.0)):
            return False  # cheap check first: a failed admin bootstrap leaks an I/O thread
        from kafka import KafkaAdminClient

        timeout_ms = max(int(timeout * 1000), 500)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=str(self.endpoint),
                client_id="forgood-stack-probe",
                request_timeout_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
            )
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def wipe(self) -> None:
        """Delete the log directory and cluster id (``stack reset``); the broker must be stopped."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.cluster_id_file.unlink(missing_ok=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _read_text(path: Path) -> str:
    return (read_text(path) or "").strip()

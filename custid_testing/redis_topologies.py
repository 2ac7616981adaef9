"""Redis as it runs past one machine, started by the tests on free loopback ports:
a primary with replicas watched by Sentinels, and a Redis Cluster.
"""

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from custid_testing.certificates import TlsFiles
from custid_testing.servers import RedisServer, free_port, wait_until

SENTINEL_SERVICE = "custid-counters"


def binary(name: str, package: str) -> str:
    """A Redis tool from its Debian package (`.ci/run` installs them); absent, the test fails."""
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is required: apt-get install {package}")
    return found


def client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)


class SentinelGroup:
    """A Redis primary, its replicas, and Sentinels that promote a replica when it dies.

    Sentinels decide after one second without an answer (production uses more),
    so a failover takes a few seconds. With `tls`, replication, the Sentinels and
    the addresses they give out are TLS (`tls_addresses`); plain ports stay open
    for the tests' own checks.
    """

    def __init__(self, replicas: int = 2, sentinels: int = 3, tls: TlsFiles | None = None) -> None:
        self.tls = tls
        replication = ["--tls-replication", "yes"] if tls is not None else []
        self.primary = RedisServer(*replication, tls=tls)
        self.replicas = [
            RedisServer("--replicaof", "127.0.0.1", str(self.primary.port), *replication, tls=tls)
            for _ in range(replicas)
        ]
        if tls is not None:  # a replica reaches its primary over TLS too
            for replica in self.replicas:
                replica.options = (
                    "--replicaof",
                    "127.0.0.1",
                    str(self.primary.tls_port),
                    *replication,
                )
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinel_tls_ports = [free_port() for _ in range(sentinels)] if tls else []
        self.directory = Path(tempfile.mkdtemp(prefix="custid-sentinel-"))
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def addresses(self) -> str:
        """The Sentinels as CUSTID_REDIS_SENTINELS takes them."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    @property
    def tls_addresses(self) -> str:
        """The Sentinels' TLS ports, as CUSTID_REDIS_SENTINELS takes them."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_tls_ports)

    def _sentinel_config(self, index: int, quorum: int) -> str:
        port = self.sentinel_ports[index]
        monitored = self.primary.port
        tls = ""
        if self.tls is not None:
            monitored = self.primary.tls_port or monitored
            tls = (
                f"tls-port {self.sentinel_tls_ports[index]}\ntls-replication yes\n"
                f"tls-cert-file {self.tls.cert}\ntls-key-file {self.tls.key}\n"
                f"tls-ca-cert-file {self.tls.ca}\n"
            )
        return (
            f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n{tls}"
            f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {monitored} {quorum}\n"
            f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\n"
            f"sentinel failover-timeout {SENTINEL_SERVICE} 5000\n"
        )

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    def start(self) -> "SentinelGroup":
        try:
            for server in self.servers:
                server.start()
            wait_until(self._replicas_in_sync, 20, "Redis replicas")
            quorum = len(self.sentinel_ports) // 2 + 1
            for index, port in enumerate(self.sentinel_ports):
                config = self.directory / f"sentinel-{port}.conf"
                config.write_text(self._sentinel_config(index, quorum))
                self.sentinels.append(
                    subprocess.Popen(
                        [binary("redis-sentinel", "redis-sentinel"), str(config)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            wait_until(self._sentinels_agree, 20, "Redis Sentinels")
        except Exception:
            self.destroy()
            raise
        return self

    def _replicas_in_sync(self) -> bool:
        with client(self.primary.port) as connection:
            info = connection.info("replication")
        return int(info.get("connected_slaves", 0)) == len(self.replicas)

    def _sentinels_agree(self) -> bool:
        """Every Sentinel knows the primary, its replicas and the other Sentinels."""
        for port in self.sentinel_ports:
            try:
                with client(port) as connection:
                    state = connection.sentinel_master(SENTINEL_SERVICE)
            except redis.RedisError:
                return False
            if (
                int(state["num-slaves"]) < len(self.replicas)
                or int(state["num-other-sentinels"]) < len(self.sentinel_ports) - 1
            ):
                return False
        return True

    def primary_port(self) -> int | None:
        """The port of the server the Sentinels name as primary now."""
        try:
            with client(self.sentinel_ports[0]) as connection:
                address = connection.sentinel_get_master_addr_by_name(SENTINEL_SERVICE)
        except redis.RedisError:
            return None
        return None if address is None else int(address[1])

    def kill_primary(self) -> RedisServer:
        """Kill the current primary (SIGKILL); the one that was killed."""
        port = self.primary_port()
        victim = next(server for server in self.servers if server.port == port)
        victim.stop()
        return victim

    def wait_for_new_primary(self, old_port: int, timeout: float = 30) -> int:
        """Wait until a replica is promoted and answers as primary; its port."""

        def promoted() -> bool:
            port = self.primary_port()
            if port is None or port == old_port:
                return False
            with client(port) as connection:
                return bool(connection.info("replication")["role"] == "master")

        wait_until(promoted, timeout, "a promoted replica")
        port = self.primary_port()
        assert port is not None
        return port

    def destroy(self) -> None:
        for sentinel in self.sentinels:
            if sentinel.poll() is None:
                sentinel.kill()
                sentinel.wait(10)
        for server in self.servers:
            server.destroy()
        shutil.rmtree(self.directory, ignore_errors=True)


# A Cluster node also listens on its port + 10000, for the other nodes.
CLUSTER_BUS_OFFSET = 10000


def free_cluster_port() -> int:
    """A free port whose Cluster bus port (+10000) is free and valid as well."""
    while True:
        port = free_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port


class RedisClusterGroup:
    """A Redis Cluster of `masters` primaries, each with `replicas_each` replicas.

    Nodes give up on a silent peer after one second, so a replica takes over a
    killed primary's slots within a few seconds. With `tls`, clients, the
    cluster bus and replication are TLS (`tls_url`); plain ports stay open for
    the tests' own checks.
    """

    def __init__(
        self, masters: int = 3, replicas_each: int = 1, tls: TlsFiles | None = None
    ) -> None:
        self.replicas_each = replicas_each
        self.tls = tls
        tls_words = ["--tls-cluster", "yes", "--tls-replication", "yes"] if tls else []
        self.nodes = [
            RedisServer(
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                # The other primaries go on serving their slots while one is down.
                "--cluster-require-full-coverage",
                "no",
                # However long its link was down, a replica may take over.
                "--cluster-replica-validity-factor",
                "0",
                *tls_words,
                tls=tls,
            )
            for _ in range(masters * (1 + replicas_each))
        ]
        for node in self.nodes:
            # The bus listens 10000 above the port the cluster speaks on (TLS's, with TLS).
            if tls is None:
                node.port = free_cluster_port()
            else:
                node.tls_port = free_cluster_port()

    @property
    def url(self) -> str:
        """One node, as CUSTID_REDIS_URL takes it with CUSTID_REDIS_CLUSTER."""
        return self.nodes[0].url if self.tls is None else self.nodes[0].tls_url

    def _cli_tls(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            "--tls",
            "--cacert",
            str(self.tls.ca),
            "--cert",
            str(self.tls.client_cert),
            "--key",
            str(self.tls.client_key),
        ]

    def start(self) -> "RedisClusterGroup":
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    binary("redis-cli", "redis-tools"),
                    *self._cli_tls(),
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{node.tls_port or node.port}" for node in self.nodes),
                    "--cluster-replicas",
                    str(self.replicas_each),
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_until(self._healthy, 30, "Redis Cluster")
        except Exception:
            self.destroy()
            raise
        return self

    def _healthy(self) -> bool:
        """Every node sees the cluster whole, with every replica attached."""
        serving = len(self.master_ports()) * (1 + self.replicas_each)
        return self._running_ok() and serving == len(self.nodes) and self._replicas_in_sync()

    def _replicas_in_sync(self) -> bool:
        """A replica that has not synced once would not take over its primary."""
        for node in self.nodes:
            with client(node.port) as connection:
                info = connection.info("replication")
            if info["role"] == "slave" and info["master_link_status"] != "up":
                return False
        return True

    def master_ports(self) -> list[int]:
        """The ports of the nodes serving slots now."""
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                with client(node.port) as connection:
                    described = connection.cluster("nodes")
            except redis.RedisError:
                continue
            return sorted(
                int(address.split(":")[1].split("@")[0])
                for address, state in described.items()
                if "master" in state["flags"] and "fail" not in state["flags"]
            )
        return []

    def keys_per_master(self, pattern: str) -> dict[int, int]:
        """How many keys matching `pattern` each serving primary holds."""
        counts = {}
        for port in self.master_ports():
            with client(port) as connection:
                counts[port] = sum(1 for _ in connection.scan_iter(match=pattern, count=1000))
        return counts

    def kill(self, port: int) -> None:
        next(node for node in self.nodes if node.port == port).stop()

    def wait_for_failover(self, killed: int, timeout: float = 30) -> None:
        """Wait until a replica serves the slots of the primary on port `killed`."""
        masters = len(self.master_ports())

        def taken_over() -> bool:
            serving = self.master_ports()
            return killed not in serving and len(serving) == masters and self._running_ok()

        wait_until(taken_over, timeout, "the Redis Cluster's failover")

    def _running_ok(self) -> bool:
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                with client(node.port) as connection:
                    if connection.cluster("info")["cluster_state"] != "ok":
                        return False
            except redis.RedisError:
                return False
        return True

    def destroy(self) -> None:
        for node in self.nodes:
            node.destroy()

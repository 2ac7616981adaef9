"""Backends and service processes the tests start for themselves, on free loopback ports.

Tests that kill, flush or restart a backend use these, never the machine's
shared PostgreSQL and Redis.
"""

import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from custid_testing.certificates import TlsFiles

POSTGRES_BIN = Path(os.environ.get("CUSTID_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
# The key ring of the test runs' services on PostgreSQL, as an operator sets one
# (`custid secrets new-key`); the embedded default makes its own key file.
TEST_SECRET_KEYS = "cDhsbB6b3mVq4gQ1JQ8QHn5pT2cZyR0a9wXv7uLkN3E="
# How long `custid serve` may take to answer: about 2 s when the machine is idle, far
# longer while the suite's other servers load both cores.
START_TIMEOUT = 90


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def _run_as_postgres() -> dict[str, Any]:
    """initdb refuses root: run the server binaries as the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


class RedisServer:
    """A redis-server of the test's own, keeping nothing on disk.

    `options` are more `--name value` words (a replica's `--replicaof`, a Cluster
    node's `--cluster-enabled`); the server runs in `directory` (a temporary one
    by default), where a Cluster node keeps its nodes file. With `tls` it also
    listens for TLS on `tls_port` (clients must present a certificate its CA
    signed), and the plain port stays for the tests' own checks.
    """

    def __init__(self, *options: str, tls: "TlsFiles | None" = None) -> None:
        self.port = free_port()
        self.tls = tls
        self.tls_port = free_port() if tls is not None else None
        self.options = options
        self.directory = Path(tempfile.mkdtemp(prefix="custid-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def tls_url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/0"

    def tls_options(self) -> list[str]:
        """redis-server's TLS words, when it serves TLS."""
        if self.tls is None:
            return []
        return [
            "--tls-port",
            str(self.tls_port),
            "--tls-cert-file",
            str(self.tls.cert),
            "--tls-key-file",
            str(self.tls.key),
            "--tls-ca-cert-file",
            str(self.tls.ca),
        ]

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.tls_options(),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.directory,
        )
        wait_until(self._answers, 10, "redis-server")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *words: str) -> bytes:
        """Send one inline command and return the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            return sock.recv(4096)

    def send(self, *words: str) -> None:
        """Send one inline command without waiting for its reply (e.g. DEBUG SLEEP)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def destroy(self) -> None:
        """Stop it and remove its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL cluster of the test's own in a temporary directory.

    Tests run it with fsync off (they crash it on purpose and never need the data
    afterwards); `durable=True` keeps fsync and synchronous commit on, as users run it.
    """

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="custid-pg-"))
        self.data = self.directory / "data"
        self._as_postgres = _run_as_postgres()
        if self._as_postgres:
            os.chown(self.directory, self._as_postgres["user"], self._as_postgres["group"])

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _binary(self, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN / args[0]), *args[1:]],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.directory,
            **self._as_postgres,
        )

    def start(self) -> "PostgresServer":
        if not self.data.exists():
            self.initialise()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            f"{self.directory} -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off"
        self._binary(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )
        return self

    def require_tls(self, files: "TlsFiles") -> "PostgresServer":
        """Serve TLS (`ssl=on`) with `files`' server certificate, and refuse any TCP
        connection that is not TLS. Call it before the first start."""
        if not self.data.exists():
            self.initialise()
        for source, name in ((files.cert, "server.crt"), (files.key, "server.key")):
            target = self.data / name
            shutil.copyfile(source, target)
            os.chmod(target, 0o600)
            if self._as_postgres:
                os.chown(target, self._as_postgres["user"], self._as_postgres["group"])
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )
        return self.configure(ssl="on", ssl_cert_file="server.crt", ssl_key_file="server.key")

    def configure(self, **settings: str) -> "PostgresServer":
        """Set server settings in its configuration file (read at the next start)."""
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{name} = '{value}'\n" for name, value in settings.items())
        return self

    def initialise(self) -> "PostgresServer":
        """Create its data directory (start does it too, when there is none)."""
        self._binary("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        return self

    def standby(self) -> "PostgresServer":
        """A streaming standby of this (running) server: a base backup that follows it.

        It names itself `standby` to the primary, for `synchronous_standby_names`,
        and requires no standby of its own once promoted.
        """
        standby = PostgresServer(durable=self.durable)
        standby._binary(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-D",
            str(standby.data),
            "-X",
            "stream",
            "--write-recovery-conf",
        )
        return standby.configure(
            primary_conninfo=f"host=127.0.0.1 port={self.port} user=postgres "
            "application_name=standby",
            synchronous_standby_names="",
        )

    def promote(self) -> None:
        """Make this standby a primary that takes writes."""
        self._binary("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "promote")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is a crash."""
        self._binary("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.directory, ignore_errors=True)


class ServiceProcess:
    """`custid serve` as its own process, as it runs in production.

    Given `CUSTID_TLS_CERT_FILE`, it serves HTTPS: `trust` is the CA file its
    certificate is checked with, and `client_cert` the (certificate, key) it is
    asked for under mutual TLS.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        workers: int = 1,
        port: int | None = None,
        trust: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.trust = trust
        self.client_cert = client_cert
        self.workers = workers
        self.env = {**os.environ, **env, "CUSTID_PORT": str(self.port)}
        if "CUSTID_DATABASE_URL" in env:
            self.env.setdefault("CUSTID_SECRET_KEYS", TEST_SECRET_KEYS)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="custid-serve-", suffix=".log", delete=False)
        # What the process wrote, kept once it is stopped and its log file is gone.
        self.final_output = ""

    @property
    def url(self) -> str:
        scheme = "https" if self.env.get("CUSTID_TLS_CERT_FILE") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """What a client trusts (and presents) to talk to this service over HTTPS."""
        context = ssl.create_default_context(cafile=str(self.trust) if self.trust else None)
        if self.client_cert is not None:
            context.load_cert_chain(*(str(path) for path in self.client_cert))
        return context

    def http(self, **options: Any) -> httpx.Client:
        """A client for this service, over whatever it serves."""
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), **options)

    def start(self) -> "ServiceProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--workers", str(self.workers)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._ready, START_TIMEOUT, f"custid on port {self.port}")
        except BaseException:
            # Nothing is left running or open for a later test to trip over; what the
            # process wrote stays in `final_output`.
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"custid exited early:\n{self.output()}")
        try:
            with self.http(timeout=0.5) as client:
                return client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None
        self.log.close()
        if Path(self.log.name).exists():
            self.final_output = self.output()
        Path(self.log.name).unlink(missing_ok=True)


def create_key(env: Mapping[str, str], name: str, *scopes: str) -> str:
    """A new API key's secret, made by `custid keys create` as an operator would."""
    arguments = [arg for scope in scopes for arg in ("--scope", scope)]
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--name", name, *arguments],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    return fields["secret"].strip()


SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n"
    b"retry-after: 1\r\ncontent-length: %d\r\n\r\n%s"
)
UNAVAILABLE_BODY = (
    b'{"type":"urn:custid:problem:backend_unavailable","title":"Backend unavailable",'
    b'"status":503,"detail":"the database backend is unreachable","code":"backend_unavailable"}'
)


class FaultyProxy:
    """An HTTP/1.1 proxy in front of a service that loses answers on request.

    `drop_answers` answers are read from the service (so what they did is done)
    and then lost: the caller's connection is closed without a byte.
    `unavailable` requests are answered 503 with `Retry-After: 1` without
    reaching the service. While the service is down, connections are closed.
    Bodies must declare their length (as httpx's and uvicorn's JSON do).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.drop_answers = 0
        self.unavailable = 0
        self.forwarded = 0
        # Requests that found the service down (and whose connection was closed).
        self.found_down = 0
        self.on_dropped: Callable[[], None] = lambda: None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            reader = connection.makefile("rb")
            while (request := read_message(reader)) is not None:
                with self._lock:
                    refuse = self.unavailable > 0
                    self.unavailable -= refuse
                if refuse:
                    connection.sendall(
                        SERVICE_UNAVAILABLE % (len(UNAVAILABLE_BODY), UNAVAILABLE_BODY)
                    )
                    continue
                answer = self._forward(request)
                with self._lock:
                    drop = answer is not None and self.drop_answers > 0
                    self.drop_answers -= drop
                if answer is None or drop:
                    if drop:
                        self.on_dropped()
                    return  # closing without an answer
                connection.sendall(answer)

    def _forward(self, request: bytes) -> bytes | None:
        try:
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up:
                up.sendall(request)
                answer = read_message(up.makefile("rb"))
        except OSError:
            self.found_down += 1
            return None
        self.forwarded += answer is not None
        return answer


def read_message(reader: Any) -> bytes | None:
    """One HTTP/1.1 message (head and a Content-Length body) from `reader`; None at its end."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        if not line:
            return None
        head += line
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body: bytes = reader.read(length) if length else b""
    return head + body


def start_services(env: Mapping[str, str], count: int) -> list[ServiceProcess]:
    """`count` custid processes with `env`, all ready; none left running if one fails."""
    services = [ServiceProcess(env) for _ in range(count)]
    try:
        for service in services:
            service.start()
    except Exception:
        stop_services(services)
        raise
    return services


def unexpected_errors(services: list[ServiceProcess]) -> str:
    """The log lines (JSON, traceback included) of requests the services answered with a 500."""
    logs = (service.output() if service.process else service.final_output for service in services)
    return "\n".join(
        line for log in logs for line in log.splitlines() if "unexpected_error" in line
    )


def stop_services(services: list[ServiceProcess]) -> None:
    for service in services:
        service.stop()

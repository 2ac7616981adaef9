"""haproxy in front of custid replicas, as a load balancer runs it: health checks on /readyz.

Started by the tests on a free loopback port, with an admin socket to read
which replicas are in rotation.
"""

import csv
import io
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from custid_testing.servers import free_port, wait_until


def haproxy_binary() -> str:
    """haproxy from the Debian package (`.ci/run` installs it); its absence fails the test."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if found is None:
        raise RuntimeError("haproxy is required: apt-get install haproxy")
    return found


class Haproxy:
    """Round robin over `backends` (base URLs); a replica whose /readyz fails twice
    (checked every 250 ms) leaves rotation, and one that passes twice comes back.
    A request whose connection is refused is sent to another replica."""

    def __init__(self, backends: Sequence[str]) -> None:
        self.port = free_port()
        self.backends = list(backends)
        self.directory = Path(tempfile.mkdtemp(prefix="custid-haproxy-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_socket(self) -> Path:
        return self.directory / "admin.sock"

    def config(self) -> str:
        servers = "\n".join(
            f"  server replica{index} {url.removeprefix('http://')} check"
            for index, url in enumerate(self.backends)
        )
        return f"""global
  maxconn 4096
  stats socket {self.admin_socket} level admin

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch

frontend custid
  bind 127.0.0.1:{self.port}
  default_backend replicas

backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  # A refused connection (a draining replica) fails a check at once; a slow answer
  # from a busy replica gets a second.
  timeout check 1s
  default-server inter 250ms fall 2 rise 2
{servers}
"""

    def start(self) -> "Haproxy":
        config = self.directory / "haproxy.cfg"
        config.write_text(self.config())
        self.process = subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: len(self.in_rotation()) == len(self.backends), 30, "haproxy")
        return self

    def server_states(self) -> dict[str, str]:
        """Each replica's state as haproxy sees it: "UP", "DOWN", ..."""
        try:
            with socket.socket(socket.AF_UNIX) as admin:
                admin.settimeout(2)
                admin.connect(str(self.admin_socket))
                admin.sendall(b"show stat\n")
                reply = b""
                while chunk := admin.recv(65536):
                    reply += chunk
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(reply.decode().removeprefix("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def in_rotation(self) -> list[str]:
        """The replicas that receive requests now: "UP", or "UP 1/2" (failing checks,
        not yet taken out)."""
        return sorted(
            name for name, state in self.server_states().items() if state.startswith("UP")
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)

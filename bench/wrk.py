"""Load from wrk: one phase is a fixed-length run at a fixed number of connections.

Each run gets a generated Lua script: the phase's request, then `wrk_report.lua`,
which counts responses by status and prints the results as one JSON line.
wrk's own CPU time is measured too, to show the client is not the bottleneck.
"""

import json
import resource
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")
RESULT_MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class Request:
    """What every connection of a phase sends, over and over."""

    method: str
    path: str
    body: str | None = None
    numbers_per_request: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    # Send a fresh `Idempotency-Key` with every request, as a careful caller does.
    fresh_idempotency_keys: bool = False

    def lua(self, run_id: str) -> str:
        """The request as wrk Lua; `run_id` (12 hex digits) keeps idempotency keys unique
        across runs and seeds their random part."""
        lines = [f"wrk.method = {json.dumps(self.method)}", f"wrk.path = {json.dumps(self.path)}"]
        if self.body is not None:
            lines.append(f"wrk.body = {json.dumps(self.body)}")
            lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in self.headers]
        if self.fresh_idempotency_keys:
            lines.append(
                FRESH_KEYS_LUA.replace("RUN_ID", json.dumps(run_id)).replace(
                    "SEED", str(int(run_id[:8], 16))
                )
            )
        return "\n".join(lines) + "\n\n"


# A key starts with 20 random hex digits, as a caller's UUID4 lands anywhere in the
# key index: keys counted up from one prefix would all go to its rightmost pages, which
# a caller's never do. The run id, wrk thread and counter after them make every key
# unique for certain. `thread_id` is set per thread by wrk_report.lua's setup();
# wrk.format replaces wrk.headers with the table it is given, so the key goes in a copy.
FRESH_KEYS_LUA = """
local sent = 0
local keyed_headers = nil
local function hex4()
  return string.format("%04x", math.random(0, 65535))
end
request = function()
  if keyed_headers == nil then
    keyed_headers = {}
    for name, value in pairs(wrk.headers) do keyed_headers[name] = value end
    math.randomseed(SEED + thread_id)
  end
  sent = sent + 1
  keyed_headers["Idempotency-Key"] = hex4() .. hex4() .. hex4() .. hex4() .. hex4()
    .. "-" .. RUN_ID .. "-" .. thread_id .. "-" .. sent
  return wrk.format(nil, nil, keyed_headers)
end"""


@dataclass
class LoadResult:
    """What wrk saw in one phase."""

    connections: int
    requests: int
    seconds: float
    latency_ms: dict[str, float]
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    client_cpu_seconds: float
    numbers_per_request: int = 0
    raw_output: str = field(default="", repr=False)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def numbers_per_s(self) -> float:
        return self.requests_per_s * self.numbers_per_request

    @property
    def numbers_per_s_by_latency(self) -> float:
        """Little's law for wrk's closed loop: connections / mean latency, in numbers.

        wrk counts only requests that finish inside the phase, which under-counts
        when one request takes a sizeable part of it (a 10,000-number batch at 8
        connections); every connection is always waiting on one request, so
        throughput is connections over mean latency.
        """
        mean_s = self.latency_ms.get("mean", 0.0) / 1000
        if not mean_s or not self.requests:
            return 0.0
        return self.connections / mean_s * self.numbers_per_request

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    @property
    def errors(self) -> int:
        """Connections that failed or timed out without an HTTP status."""
        return sum(self.socket_errors.values())

    @property
    def client_cpu_share(self) -> float:
        """wrk's CPU time over wall time: 1.0 is one core kept busy."""
        return self.client_cpu_seconds / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "numbers_per_s": round(self.numbers_per_s, 1),
            "numbers_per_s_by_latency": round(self.numbers_per_s_by_latency, 1),
            "latency_ms": self.latency_ms,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "client_cpu_share": round(self.client_cpu_share, 3),
        }


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`)")
    return found


def run_wrk(
    base_url: str,
    request: Request,
    *,
    connections: int,
    seconds: float,
    threads: int,
    script_path: Path,
    timeout_seconds: float = 30.0,
) -> LoadResult:
    """Run wrk against `base_url` for `seconds`; the script is written to `script_path`."""
    script_path.write_text(request.lua(uuid.uuid4().hex[:12]) + REPORT_SCRIPT.read_text())
    command = [
        wrk_binary(),
        "--threads",
        str(min(threads, connections)),
        "--connections",
        str(connections),
        "--duration",
        f"{max(int(round(seconds)), 1)}s",
        "--timeout",
        f"{int(timeout_seconds)}s",
        "--latency",
        "--script",
        str(script_path),
        base_url.rstrip("/") + request.path,
    ]
    # Nothing else of ours exits during the run, so the children's rusage delta is wrk's.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout_seconds + 30
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return parse_result(completed.stdout, connections, cpu, request.numbers_per_request)


def parse_result(
    output: str, connections: int, client_cpu_seconds: float, numbers_per_request: int
) -> LoadResult:
    """The LoadResult in wrk's output, as printed by wrk_report.lua."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            reported = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise RuntimeError(f"no {RESULT_MARKER.strip()} line in wrk's output:\n{output}")
    errors = reported["errors"]
    return LoadResult(
        connections=connections,
        requests=int(reported["requests"]),
        seconds=reported["duration_us"] / 1e6,
        latency_ms={name: value / 1000 for name, value in reported["latency_us"].items()},
        statuses={int(status): int(count) for status, count in reported["statuses"].items()},
        socket_errors={name: int(errors[name]) for name in ("connect", "read", "write", "timeout")},
        client_cpu_seconds=client_cpu_seconds,
        numbers_per_request=numbers_per_request,
        raw_output=output,
    )

"""PostgreSQL's own rate for 10,000-row INSERTs into a copy of `issued_numbers` (phase e).

Each pgbench transaction is one statement that inserts `rows` new numbers built
on the server with generate_series; a sequence numbering the batches gives
every transaction its own range, so numbers never collide. It is the same statement
shape custid sends (INSERT ... ON CONFLICT DO NOTHING) minus the Python around
it, the parameters on the wire and the RETURNING: the ceiling for phase d.
"""

import re
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

from custid_testing.servers import POSTGRES_BIN

INSERT_SCRIPT = """\
WITH batch AS (SELECT (nextval('{table}_batches') - 1) * {rows} + 1 AS first)
INSERT INTO {table} (number, scheme, scheme_version, period, partition, seq, attributes, issued_at)
SELECT '{period}' || lpad((batch.first + g)::text, 12, '0'), 'pgbench', 1, '{period}', '',
       batch.first + g, '{{}}'::jsonb, now()
FROM batch, generate_series(0, {last_offset}) AS g
ON CONFLICT DO NOTHING;
"""


@dataclass
class InsertRate:
    """What pgbench saw."""

    clients: int
    rows_per_transaction: int
    transactions: int
    seconds: float
    tps: float
    latency_ms: float
    client_cpu_seconds: float
    raw_output: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.tps * self.rows_per_transaction

    @property
    def client_cpu_share(self) -> float:
        return self.client_cpu_seconds / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "clients": self.clients,
            "rows_per_transaction": self.rows_per_transaction,
            "transactions": self.transactions,
            "seconds": self.seconds,
            "tps": round(self.tps, 2),
            "rows_per_s": round(self.rows_per_s, 1),
            "latency_ms": {"mean": round(self.latency_ms, 2)},
            "client_cpu_share": round(self.client_cpu_share, 3),
        }


def run_pgbench(
    *,
    host: str,
    port: int,
    table: str,
    period: str,
    rows: int,
    clients: int,
    seconds: float,
    script_path: Path,
) -> InsertRate:
    """Insert `rows`-row batches from `clients` connections for `seconds`."""
    script_path.write_text(
        INSERT_SCRIPT.format(table=table, period=period, rows=rows, last_offset=rows - 1)
    )
    command = [
        str(POSTGRES_BIN / "pgbench"),
        "--no-vacuum",
        "--file",
        str(script_path),
        "--client",
        str(clients),
        "--jobs",
        "1",
        "--time",
        str(max(int(round(seconds)), 1)),
        "--host",
        host,
        "--port",
        str(port),
        "--username",
        "postgres",
        "postgres",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed ({completed.returncode}):\n{completed.stderr}")
    return parse_pgbench(
        completed.stdout,
        clients=clients,
        rows=rows,
        seconds=seconds,
        client_cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    )


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"pgbench output lacks {pattern!r}:\n{text}")
    return float(match.group(1))


def parse_pgbench(
    output: str, *, clients: int, rows: int, seconds: float, client_cpu_seconds: float
) -> InsertRate:
    return InsertRate(
        clients=clients,
        rows_per_transaction=rows,
        transactions=int(_number(r"number of transactions actually processed: (\d+)", output)),
        seconds=seconds,
        tps=_number(r"tps = ([\d.]+) \(without initial connection time\)", output),
        latency_ms=_number(r"latency average = ([\d.]+) ms", output),
        client_cpu_seconds=client_cpu_seconds,
        raw_output=output,
    )

"""`make bench-gapless`: what strict order costs. A gapless scheme's values are assigned in
the transaction that stores each number, one transaction at a time per counter row.

Starts its own durable PostgreSQL and Redis and custid, then measures, in turns:

  plain     one number per request of an ordinary daily scheme (coalesced, Redis counter)
  gapless   one number per request of a gapless scheme (the counter row locked until commit)
  confirm   reserve `--reservations` places of the gapless scheme, then confirm them all,
            `--connections` at a time: confirms per second

and checks afterwards that the gapless scheme's period has no gap at all.

    python -m bench.gapless --duration 10 --rounds 3
"""

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import stack
from bench.run import new_run_dir, progress, publish
from bench.wrk import Request, run_wrk
from custid_testing.servers import ServiceProcess

GAPLESS_SCHEME = "invoice"
SCHEME_FILE = (
    stack.SCHEME_FILE
    + """
[schemes.invoice]
kind = "timestamp"
description = "Gapless: values assigned at confirm time, in strict order"
prefix = "INV"
format = "%Y"
width = 12
gapless = true
"""
)


@dataclass
class GaplessReport:
    started_at: str
    options: dict[str, object]
    plain_per_s: list[float] = field(default_factory=list)
    gapless_per_s: list[float] = field(default_factory=list)
    confirms_per_s: list[float] = field(default_factory=list)
    non_2xx: int = 0
    gapless_highest_seq: int = 0
    gapless_missing: int = -1

    def summary(self) -> str:
        plain = statistics.median(self.plain_per_s)
        gapless = statistics.median(self.gapless_per_s)
        confirms = statistics.median(self.confirms_per_s)
        return "\n".join(
            [
                f"plain issue    {plain:>9,.0f} numbers/s (median of {len(self.plain_per_s)})",
                f"gapless issue  {gapless:>9,.0f} numbers/s ({gapless / plain:.1%} of plain)",
                f"gapless confirm{confirms:>9,.0f} confirms/s",
                f"gapless period: highest sequence {self.gapless_highest_seq:,}, "
                f"{self.gapless_missing} missing; non-2xx answers: {self.non_2xx}",
            ]
        )


async def reserve_and_confirm(
    base_url: str, headers: dict[str, str], reservations: int, connections: int
) -> tuple[float, int]:
    """Confirms per second over `reservations` gapless reservations; how many failed."""
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        gate = asyncio.Semaphore(connections)

        async def reserve() -> str:
            async with gate:
                answer = await client.post(f"/v1/schemes/{GAPLESS_SCHEME}/reservations", timeout=60)
                answer.raise_for_status()
                return str(answer.json()["id"])

        held = await asyncio.gather(*(reserve() for _ in range(reservations)))

        async def confirm(reservation: str) -> bool:
            async with gate:
                answer = await client.post(f"/v1/reservations/{reservation}/confirm", timeout=60)
                return answer.status_code == 200

        started = time.monotonic()
        confirmed = await asyncio.gather(*(confirm(r) for r in held))
        elapsed = time.monotonic() - started
    return len(held) / elapsed, confirmed.count(False)


def run(args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> GaplessReport:
    report = GaplessReport(
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        options={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    )
    schemes = run_dir / "gapless-schemes.toml"
    schemes.write_text(SCHEME_FILE)
    backends = stack.start_backends(cleanup, schemes)
    auth = ("Authorization", f"Bearer {backends.api_key()}")
    custid = ServiceProcess(backends.env, workers=args.workers)
    stack.start_service(cleanup, custid, run_dir / "custid.log")
    progress(f"custid on {custid.url}")
    for round_number in range(args.rounds):
        for name, scheme, rates in (
            ("plain", stack.SCHEME_NAME, report.plain_per_s),
            ("gapless", GAPLESS_SCHEME, report.gapless_per_s),
        ):
            progress(f"round {round_number + 1}: {name}, {args.connections} connections")
            load = run_wrk(
                custid.url,
                Request(
                    "POST",
                    f"/v1/schemes/{scheme}/numbers",
                    body="{}",
                    numbers_per_request=1,
                    headers=(auth,),
                ),
                connections=args.connections,
                seconds=args.duration,
                threads=1,
                script_path=run_dir / f"{name}.lua",
            )
            rates.append(load.numbers_per_s)
            report.non_2xx += load.non_2xx
            progress(f"  {load.numbers_per_s:,.0f} numbers/s")
        progress(f"round {round_number + 1}: confirm {args.reservations} reservations")
        rate, failed = asyncio.run(
            reserve_and_confirm(custid.url, dict([auth]), args.reservations, args.connections)
        )
        report.confirms_per_s.append(rate)
        report.non_2xx += failed
        progress(f"  {rate:,.0f} confirms/s")
    period = str(datetime.now(UTC).year)
    gaps = httpx.get(
        f"{custid.url}/v1/schemes/{GAPLESS_SCHEME}/periods/{period}/gaps",
        headers=dict([auth]),
        timeout=60,
    ).json()
    [partition] = gaps["partitions"]
    report.gapless_highest_seq = partition["highest_seq"]
    report.gapless_missing = partition["missing"]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase (10)")
    parser.add_argument("--rounds", type=int, default=3, help="plain/gapless turns (3)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent requests (64)")
    parser.add_argument(
        "--reservations", type=int, default=500, help="reservations confirmed per round (500)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    run_dir = new_run_dir(f"gapless-workers{args.workers}")
    with ExitStack() as cleanup:
        report = run(args, run_dir, cleanup)
    publish(run_dir, report.summary(), asdict(report), args.json)
    return 0 if report.gapless_missing == 0 and report.non_2xx == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

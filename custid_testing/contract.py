"""The integration contract as an integrator tries it: schemathesis's own runner (`st run`),
every check and every phase (stateful included), against a real `custid serve` holding an
admin key, with the settings in `schemathesis.toml` and the checks in `contract_checks.py`.

`tests/api/test_contract.py` runs a short, seeded campaign on both backends inside the suite;
`bench/contract.py` (`make contract`) the long one, on backends of its own.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.scopes import Scope
from custid_testing.servers import PostgresServer, RedisServer, ServiceProcess, create_key

SCHEMES_FILE = Path(__file__).parent / "data" / "schemes.toml"
# What integrators run with: the operations' allowances, and the checks custid adds.
CONFIG_FILE = Path(__file__).parent.parent / "schemathesis.toml"
CHECKS_FILE = Path(__file__).parent / "contract_checks.py"
# Every phase schemathesis has: the document's examples, its coverage of each schema's
# edges, random fuzzing, and stateful sequences that follow the document's links.
PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class FailureClass:
    """One kind of failure schemathesis reports (e.g. ST103 Undocumented status code)."""

    code: str
    title: str
    count: int
    operations: list[str]


@dataclass
class CampaignReport:
    """What one `st run` found against one backend."""

    backend: str
    cases: int
    seconds: float
    failures: list[FailureClass] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = True
    # Failures `contract_checks.filter_failure` dropped: schemathesis's, on a false premise.
    dropped: int = 0

    @property
    def failure_count(self) -> int:
        return sum(failure.count for failure in self.failures)

    @property
    def clean(self) -> bool:
        return self.complete and not self.failures and not self.errors

    def render(self) -> str:
        """The report as lines a reader compares between runs."""
        lines = [
            f"{self.backend}: {self.cases:,} cases in {self.seconds:.0f} s, "
            f"{self.failure_count} unique failures, {len(self.errors)} errors, "
            f"{self.dropped} dropped as the fuzzer's false premise"
        ]
        for failure in self.failures:
            operations = ", ".join(failure.operations[:6])
            more = f" (+{len(failure.operations) - 6})" if len(failure.operations) > 6 else ""
            lines.append(f"  {failure.code} {failure.title}: {failure.count} ({operations}{more})")
        lines += [f"  error: {error}" for error in self.errors]
        if not self.complete:
            lines.append("  the run did not complete")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "cases": self.cases,
            "seconds": round(self.seconds, 1),
            "failures": [failure.__dict__ for failure in self.failures],
            "errors": self.errors,
            "complete": self.complete,
            "dropped": self.dropped,
        }


def report_of(backend: str, document: Mapping[str, Any]) -> CampaignReport:
    """The campaign report in schemathesis's JSON report (`--report json`)."""
    failures = [
        FailureClass(
            code=str(found.get("code", "")),
            title=str(found.get("title", found.get("type", ""))),
            count=int(found.get("count", 0)),
            operations=sorted(str(operation) for operation in found.get("operations", [])),
        )
        for found in document.get("failures", [])
    ]
    errors = [
        str(error.get("title", error)) + (f": {error['message']}" if "message" in error else "")
        if isinstance(error, dict)
        else str(error)
        for error in document.get("errors", [])
    ]
    return CampaignReport(
        backend=backend,
        cases=int(document["test_cases"]["generated"]),
        seconds=float(document.get("running_time", 0.0)),
        failures=failures,
        errors=errors,
        complete=bool(document.get("complete", False)),
        dropped=int(document.get("filtered", 0)),
    )


def run_schemathesis(
    url: str,
    api_key: str,
    backend: str,
    report_dir: Path,
    *,
    max_examples: int,
    seed: int,
    workers: int = 1,
    phases: tuple[str, ...] = PHASES,
    timeout: float | None = None,
) -> CampaignReport:
    """`st run` against the service at `url`, every check, in `phases` (all by default);
    its report."""
    report_dir.mkdir(parents=True, exist_ok=True)
    report_path = report_dir / f"{backend}.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG_FILE),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        ",".join(phases),
        "--header",
        f"Authorization: Bearer {api_key}",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
    ]
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        # schemathesis keeps its caches where it runs: the report folder, not the checkout.
        cwd=report_dir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(CHECKS_FILE)},
        timeout=timeout,
        check=False,
    )
    (report_dir / f"{backend}.txt").write_text(finished.stdout + finished.stderr)
    if not report_path.exists():
        raise RuntimeError(f"st run wrote no report:\n{finished.stdout}\n{finished.stderr}")
    return report_of(backend, json.loads(report_path.read_text()))


def admin_key(env: Mapping[str, str]) -> str:
    """A key holding every scope, made by `custid keys create` as an operator makes one."""
    return create_key(env, "contract", *(scope.value for scope in Scope))


@contextmanager
def served(env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """`custid serve` on `env` (CUSTID_* settings), with an admin key: its URL and the key."""
    env = {"CUSTID_SCHEMES_FILE": str(SCHEMES_FILE), "CUSTID_LOG_LEVEL": "warning", **env}
    key = admin_key(env)
    service = ServiceProcess(env).start()
    try:
        yield service.url, key
    finally:
        service.stop()


def own_backend(backend: str, cleanup: ExitStack, directory: Path) -> dict[str, str]:
    """CUSTID_* settings for `backend` on servers of the campaign's own, migrated."""
    if backend == "embedded":
        return {"CUSTID_DATA_DIR": str(directory / "embedded")}
    postgres = PostgresServer()
    cleanup.callback(postgres.destroy)
    postgres.start()
    redis = RedisServer()
    cleanup.callback(redis.destroy)
    redis.start()
    env = {"CUSTID_DATABASE_URL": postgres.url, "CUSTID_REDIS_URL": redis.url}
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env

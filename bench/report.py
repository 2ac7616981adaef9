"""What a run found: the phases, the soak, the ratios against the targets; as text and JSON."""

import os
import platform
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench.profile import HotFrame
from bench.soak import Soak

MB = 1024 * 1024
# Phases that issue through custid: any error there makes the run invalid.
CUSTID_PHASES = ("c", "c0", "d", "d1", "s", "sd")
# Phases whose errors are only worth a warning: the floors and the naive peer.
BASELINE_PHASES = ("a", "b", "sa")


@dataclass
class PhaseResult:
    """One phase's figures; rates are per second over the phase's measured duration."""

    key: str
    title: str
    connections: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    numbers_per_s: float
    non_2xx: int | None
    socket_errors: int | None
    # Resident memory of each worker of the phase's service, after the phase.
    rss_mb: list[float]
    # CPU of each group of processes over the phase, in cores (1.0 = one core busy).
    cpu_cores: dict[str, float]
    # Connections PostgreSQL accepted during the phase.
    new_sessions: int | None = None
    answered: int | None = None
    stored: int | None = None
    details: dict[str, object] = field(default_factory=dict)
    # Requests per second of each round, when the phase ran more than once (--rounds).
    rounds_per_s: list[float] = field(default_factory=list)


def median_phase(results: list[PhaseResult]) -> PhaseResult:
    """The round of a phase with the median rate (the lower middle one of an even count),
    with every round's rate kept in its details."""
    ordered = sorted(results, key=lambda result: result.requests_per_s)
    median = ordered[(len(ordered) - 1) // 2]
    rates = [round(result.requests_per_s, 1) for result in results]
    return replace(median, rounds_per_s=rates, details={**median.details, "rounds_per_s": rates})


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    limit: float
    at_least: bool
    unit: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        met = self.value >= self.limit if self.at_least else self.value <= self.limit
        return "PASS" if met else "MISS"

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        value = "-" if self.value is None else f"{self.value:.2f}{self.unit}"
        limit = f"{sign} {self.limit:g}{self.unit}"
        return f"  {self.name:<48} {value:>11}  {limit:<10} {self.verdict}"


@dataclass(frozen=True)
class RatioTarget:
    """A figure of one phase over the same figure of its baseline, held to a least ratio."""

    name: str
    top: str
    bottom: str
    figure: str
    # The least ratio with one worker and with more; None: no target there.
    at_one_worker: float | None
    at_more_workers: float | None


KEYED = "requests_per_s"
NUMBERS = "numbers_per_s"
RATIO_TARGETS = (
    RatioTarget("c/a  keyed single issue vs HTTP floor (req/s)", "c", "a", KEYED, 0.8, 0.75),
    RatioTarget("c/b  keyed single issue vs naive peer (req/s)", "c", "b", KEYED, 1.37, None),
    RatioTarget("d/e  batch vs PostgreSQL INSERT (numbers/s)", "d", "e", NUMBERS, 0.64, None),
    RatioTarget("d1/e1 one batch caller vs one PG session", "d1", "e1", NUMBERS, 0.6, 0.6),
    RatioTarget("s/sa embedded keyed single vs its HTTP floor", "s", "sa", KEYED, 0.6, 0.6),
    RatioTarget("sd/sq embedded batch vs Python sqlite3", "sd", "sq", NUMBERS, 0.3, 0.3),
)


@dataclass
class Report:
    started_at: str
    machine: "Machine"
    options: dict[str, object]
    start_to_ready_s: float
    load_average_before: tuple[float, float, float]
    embedded_start_to_ready_s: float | None = None
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    soak: Soak | None = None
    profile_file: Path | None = None
    hot_frames: list[HotFrame] = field(default_factory=list)
    load_average_after: tuple[float, float, float] | None = None

    def _ratio(self, numerator: float, denominator: float) -> float | None:
        return numerator / denominator if denominator else None

    def max_rss_mb(self) -> float:
        values = [mb for phase in self.phases.values() for mb in phase.rss_mb]
        if self.soak is not None:
            values.append(self.soak.max_mb)
        return max(values, default=0.0)

    @property
    def workers(self) -> int:
        return int(str(self.options.get("workers", 1)))

    def _phase_ratio(self, top: str, bottom: str, figure: str) -> float | None:
        """`figure` of phase `top` over that of phase `bottom`; None if either is missing."""
        numerator, denominator = self.phases.get(top), self.phases.get(bottom)
        if numerator is None or denominator is None:
            return None
        return self._ratio(getattr(numerator, figure), getattr(denominator, figure))

    def targets(self) -> list[Target]:
        """The targets of the speed issue, each a ratio within this run where it can be.

        Which depend on the workers: one worker is held to the naive peer and to
        PostgreSQL's own batch rate as well, two to a slightly lower share of the floor
        (both cores are shared with PostgreSQL). Missing phases give no target.
        """
        one_worker = self.workers == 1
        found = []
        for goal in RATIO_TARGETS:
            limit = goal.at_one_worker if one_worker else goal.at_more_workers
            if limit is not None and goal.top in self.phases and goal.bottom in self.phases:
                ratio = self._phase_ratio(goal.top, goal.bottom, goal.figure)
                found.append(Target(goal.name, ratio, limit, True))
        a, c = self.phases.get("a"), self.phases.get("c")
        if a and c and a.p99_ms and c.p99_ms:
            found.append(
                Target(
                    f"p99 c / p99 a at {c.connections} connections",
                    c.p99_ms / a.p99_ms,
                    1.5,
                    False,
                )
            )
        found.append(Target("RSS per worker, highest seen", self.max_rss_mb(), 150, False, " MB"))
        if self.soak is not None:
            found.append(
                Target(
                    f"RSS growth, 2nd half of the soak ({self.soak.issued:,})",
                    self.soak.growth_mb,
                    10,
                    False,
                    " MB",
                )
            )
        found.append(
            Target(
                "start to ready, custid serve on PostgreSQL", self.start_to_ready_s, 2, False, " s"
            )
        )
        if self.embedded_start_to_ready_s is not None:
            found.append(
                Target(
                    "start to ready, custid serve embedded",
                    self.embedded_start_to_ready_s,
                    2,
                    False,
                    " s",
                )
            )
        return found

    def ratios(self) -> list[tuple[str, float]]:
        """Figures without a target, each against a baseline of the same run."""
        pairs = [
            ("c0/a  unkeyed single issue vs HTTP floor", "c0", "a", "requests_per_s"),
            ("c0/b  unkeyed single issue vs naive peer", "c0", "b", "requests_per_s"),
            ("s/a   embedded keyed single vs PostgreSQL's floor", "s", "a", "requests_per_s"),
            ("sd/e  embedded batch vs PostgreSQL INSERT", "sd", "e", "numbers_per_s"),
            ("d1/d  one batch caller vs eight", "d1", "d", "numbers_per_s"),
        ]
        if self.workers != 1:
            # Targets at one worker only; still worth seeing beside the others.
            pairs[:0] = [
                ("c/b   keyed single issue vs naive peer", "c", "b", "requests_per_s"),
                ("d/e   batch vs PostgreSQL INSERT", "d", "e", "numbers_per_s"),
            ]
        found = []
        for name, top, bottom, figure in pairs:
            ratio = self._phase_ratio(top, bottom, figure)
            if ratio is not None:
                found.append((name, ratio))
        return found

    def invalid_reasons(self) -> list[str]:
        """Why the run's figures cannot be trusted; empty when they can."""
        reasons = []
        for key in CUSTID_PHASES:
            phase = self.phases.get(key)
            if phase is not None and phase.non_2xx:
                reasons.append(f"phase {key}: {phase.non_2xx} non-2xx responses")
            if phase is not None and phase.socket_errors:
                reasons.append(f"phase {key}: {phase.socket_errors} socket errors or timeouts")
        if self.soak is not None and self.soak.failures:
            reasons.append(f"soak: failed requests {self.soak.failures}")
        if self.soak is not None and self.soak.timed_out:
            reasons.append(f"soak: stopped at its deadline after {self.soak.issued:,} numbers")
        return reasons

    def warnings(self) -> list[str]:
        found = []
        for key in BASELINE_PHASES:
            phase = self.phases.get(key)
            if phase is not None and (phase.non_2xx or phase.socket_errors):
                found.append(
                    f"phase {key}: {phase.non_2xx} non-2xx, {phase.socket_errors} socket errors"
                )
        for phase in self.phases.values():
            if phase.answered is not None and phase.stored is not None:
                if phase.stored < phase.answered:
                    found.append(
                        f"phase {phase.key}: {phase.answered} numbers answered "
                        f"but only {phase.stored} rows stored"
                    )
        return found

    def to_json(self) -> dict[str, object]:
        return {
            "started_at": self.started_at,
            "machine": asdict(self.machine),
            "load_average_before": self.load_average_before,
            "options": self.options,
            "start_to_ready_s": round(self.start_to_ready_s, 3),
            "embedded_start_to_ready_s": None
            if self.embedded_start_to_ready_s is None
            else round(self.embedded_start_to_ready_s, 3),
            "phases": {key: asdict(phase) for key, phase in self.phases.items()},
            "soak": None if self.soak is None else self.soak.summary(),
            "targets": [{**asdict(target), "verdict": target.verdict} for target in self.targets()],
            "ratios": dict(self.ratios()),
            "valid": not self.invalid_reasons(),
            "invalid_reasons": self.invalid_reasons(),
            "warnings": self.warnings(),
            "load_average_after": self.load_average_after,
            "profile": None
            if self.profile_file is None
            else {
                "file": str(self.profile_file),
                "hot_frames": [asdict(f) for f in self.hot_frames],
            },
        }

    def render(self) -> str:
        options = self.options
        machine = self.machine
        lines = [
            f"custid benchmark  {self.started_at}  workers={options['workers']}  "
            f"{options['connections']} connections  {options['duration']:g} s per phase "
            f"(after {options['warmup']:g} s warm-up)",
            f"machine: {machine.cpus} CPUs ({machine.cpu_model}), "
            f"{machine.memory_gib:.1f} GiB RAM, Linux {machine.kernel}, Python {machine.python}",
            f"load average at start {_loads(self.load_average_before)}"
            + (
                ""
                if self.load_average_after is None
                else f", at end {_loads(self.load_average_after)}"
            )
            + " (other work on the machine counts here)",
            "backends: the run's own PostgreSQL 15 (durable: fsync and synchronous_commit on) "
            "and Redis (no persistence); sa, s, sd: the embedded SQLite file; sq: Python's "
            "sqlite3 in the bench process",
            "",
            f"{'phase':<48}{'conns':>6}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'numbers/s':>12}{'non-2xx':>9}{'sockerr':>9}",
        ]
        for phase in self.phases.values():
            lines.append(
                f"{phase.key:<4} {phase.title:<43}{phase.connections:>6}"
                f"{phase.requests_per_s:>11,.1f}{_ms(phase.p50_ms):>9}{_ms(phase.p99_ms):>9}"
                f"{_rate(phase.numbers_per_s):>12}{_count(phase.non_2xx):>9}"
                f"{_count(phase.socket_errors):>9}"
            )
        rounds = [phase for phase in self.phases.values() if len(phase.rounds_per_s) > 1]
        if rounds:
            lines.append("rounds (req/s of each; the median round is shown above):")
            lines += [
                f"  {phase.key:<4}{', '.join(f'{rate:,.0f}' for rate in phase.rounds_per_s)}"
                for phase in rounds
            ]
        lines += [
            "d, sd: numbers/s = connections / mean latency x count (Little's law; wrk's count of",
            "   finished requests, req/s, under-counts requests that take seconds)."
            "  e, e1: req/s = pgbench transactions/s",
            "d1: numbers answered / time from the first request to the last answer, "
            "one connection.  sq: req/s = transactions/s",
            "",
            f"{'phase':<8}{'RSS MB per worker':<20}{'CPU in cores:':<14}"
            f"{'service':>8}{'postgres':>10}{'redis':>7}{'client':>8}{'new PG sessions':>17}",
        ]
        for phase in self.phases.values():
            rss = " ".join(f"{mb:.0f}" for mb in phase.rss_mb) or "-"
            cpu = phase.cpu_cores
            lines.append(
                f"{phase.key:<8}{rss:<20}{'':<14}{_cores(cpu.get('service')):>8}"
                f"{_cores(cpu.get('postgres')):>10}{_cores(cpu.get('redis')):>7}"
                f"{_cores(cpu.get('client')):>8}{_count(phase.new_sessions):>17}"
            )
        lines.append("")
        lines.append(
            f"start to ready: {self.start_to_ready_s:.2f} s"
            + (
                ""
                if self.embedded_start_to_ready_s is None
                else f" (embedded: {self.embedded_start_to_ready_s:.2f} s)"
            )
        )
        if self.soak is not None:
            soak = self.soak
            rate = soak.issued / soak.seconds if soak.seconds else 0
            lines.append(
                f"soak: {soak.issued:,} numbers in {soak.seconds:.1f} s ({rate:,.0f}/s); "
                f"RSS per worker first {soak.first_mb:.1f} MB, last {soak.last_mb:.1f}, "
                f"max {soak.max_mb:.1f}, growth over the second half {soak.growth_mb:+.1f}"
            )
        a, c = self.phases.get("a"), self.phases.get("c")
        client = max(
            (phase.cpu_cores.get("client", 0.0) for phase in self.phases.values()), default=0
        )
        if a and c and c.requests_per_s:
            lines.append(
                f"client check: wrk/pgbench used at most {client:.2f} of a core; wrk drove "
                f"/healthz at {a.requests_per_s / c.requests_per_s:.1f}x the single-issue rate"
            )
        lines += ["", "targets (ratios measured in this run):"]
        lines += [target.line() for target in self.targets()]
        lines += [f"  {name:<48} {value:>11.2f}" for name, value in self.ratios()]
        reasons = self.invalid_reasons()
        lines.append("")
        lines.append(
            "run INVALID: " + "; ".join(reasons)
            if reasons
            else f"run valid: no errors in {', '.join(CUSTID_PHASES)} or the soak"
        )
        lines += [f"warning: {warning}" for warning in self.warnings()]
        if self.profile_file is not None:
            lines += ["", f"profile of an extra run of phase c: {self.profile_file}"]
            lines.append(f"  {'own':>6} {'total':>6}  function")
            lines += [
                f"  {frame.own:>6.1%} {frame.total:>6.1%}  {frame.frame}"
                for frame in self.hot_frames
            ]
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value else "-"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _loads(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


@dataclass(frozen=True)
class Machine:
    """Where the figures were taken."""

    cpus: int
    cpu_model: str
    memory_gib: float
    kernel: str
    python: str

    @classmethod
    def this_one(cls) -> "Machine":
        model = "unknown CPU"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kib = 0
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
        return cls(
            cpus=len(os.sched_getaffinity(0)),
            cpu_model=model,
            memory_gib=memory_kib / 1024 / 1024,
            kernel=platform.release(),
            python=platform.python_version(),
        )

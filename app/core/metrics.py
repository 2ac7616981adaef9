"""Prometheus metrics: every series custid exports is defined here.

Counters and histograms are kept by the process that observes them. Under
several uvicorn workers, prometheus-client writes them to files in
`PROMETHEUS_MULTIPROC_DIR` (it must be set before the worker imports
prometheus-client) and a scrape sums the files of every worker. Gauges that
describe shared state (utilisation, backend health, which counter serves) are
not kept at all: they are read from the shared backends when scraped, so every
worker answers the same and no stale per-process value survives a restart.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BACKENDS = ("database", "redis")
# Issuing takes a few milliseconds; a batch of 10,000 up to a few seconds.
# Methods are the caller's to choose: past this many label sets the cache starts over.
MAX_REQUEST_LABEL_SETS = 1000
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    """The directory worker processes share their metrics through, if several serve."""
    return os.environ.get(MULTIPROC_ENV) or None


@dataclass(frozen=True)
class Snapshot:
    """Gauges read from the shared backends at scrape time."""

    counter_backend: str
    backend_up: Mapping[str, bool] = field(default_factory=dict)
    sequence_utilisation: Mapping[str, float] = field(default_factory=dict)
    random_space_utilisation: Mapping[str, float] = field(default_factory=dict)
    # Per webhook subscription: seconds since the oldest event it has not received yet.
    undelivered_age: Mapping[str, float] = field(default_factory=dict)
    # Per (scheme, partition) running out at its recent rate: seconds until it does.
    exhausts_in: Mapping[tuple[str, str], float] = field(default_factory=dict)
    # Per scheme that resets: seconds until its current period ends.
    period_remaining: Mapping[str, float] = field(default_factory=dict)


class SnapshotCollector(Collector):
    """Exposes one `Snapshot` as gauges."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "custid_backend_up", "1 if the backend answers, 0 if it does not.", labels=["backend"]
        )
        for backend, answers in sorted(self.snapshot.backend_up.items()):
            up.add_metric([backend], 1.0 if answers else 0.0)
        serving = GaugeMetricFamily(
            "custid_counter_backend",
            "1 for the counter backend serving sequence values (redis or database).",
            labels=["backend"],
        )
        for backend in BACKENDS:
            serving.add_metric([backend], 1.0 if backend == self.snapshot.counter_backend else 0.0)
        sequence = GaugeMetricFamily(
            "custid_sequence_utilisation_ratio",
            "Share of the current period's sequence used, fullest partition (1 = exhausted).",
            labels=["scheme"],
        )
        for scheme, ratio in sorted(self.snapshot.sequence_utilisation.items()):
            sequence.add_metric([scheme], ratio)
        random_space = GaugeMetricFamily(
            "custid_random_space_utilisation_ratio",
            "Share of a random scheme's number space issued in the current period.",
            labels=["scheme"],
        )
        for scheme, ratio in sorted(self.snapshot.random_space_utilisation.items()):
            random_space.add_metric([scheme], ratio)
        undelivered = GaugeMetricFamily(
            "custid_webhook_oldest_undelivered_seconds",
            "Age of the oldest event a webhook subscription has not received (0: none waits).",
            labels=["subscription"],
        )
        for subscription, age in sorted(self.snapshot.undelivered_age.items()):
            undelivered.add_metric([subscription], age)
        exhausts = GaugeMetricFamily(
            "custid_sequence_exhausts_in_seconds",
            "Seconds until a partition's sequence runs out at its recent issuance rate "
            "(absent: not issuing lately).",
            labels=["scheme", "partition"],
        )
        for (scheme, partition), seconds in sorted(self.snapshot.exhausts_in.items()):
            exhausts.add_metric([scheme, partition], seconds)
        remaining = GaugeMetricFamily(
            "custid_sequence_period_remaining_seconds",
            "Seconds until a scheme's current period ends and its sequence starts again.",
            labels=["scheme"],
        )
        for scheme, seconds in sorted(self.snapshot.period_remaining.items()):
            remaining.add_metric([scheme], seconds)
        return [up, serving, sequence, random_space, undelivered, exhausts, remaining]


class Metrics:
    """The service's counters and histograms, and the hooks that move them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        on = self.registry
        self.numbers_issued = Counter(
            "custid_numbers_issued", "Numbers issued and stored.", ["scheme"], registry=on
        )
        self.issue_conflicts = Counter(
            "custid_issue_conflicts",
            "Inserts that collided with a stored number (the counter was behind).",
            ["scheme"],
            registry=on,
        )
        self.counter_resyncs = Counter(
            "custid_counter_resyncs",
            "Counters raised to the highest stored sequence (after a conflict or a missing key).",
            ["scheme"],
            registry=on,
        )
        self.issue_retries = Counter(
            "custid_issue_retries",
            "Issue attempts repeated after a conflict.",
            ["scheme"],
            registry=on,
        )
        self.counter_fallbacks = Counter(
            "custid_counter_fallbacks",
            "Times the database counter served because Redis could not.",
            registry=on,
        )
        self.idempotent_replays = Counter(
            "custid_idempotent_replays",
            "Issuing requests answered from an earlier request with the same Idempotency-Key.",
            ["scheme"],
            registry=on,
        )
        self.errors = Counter(
            "custid_errors", "Problem responses by their stable code.", ["code"], registry=on
        )
        self.requests = Counter(
            "custid_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=on,
        )
        self.request_duration = Histogram(
            "custid_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=on,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._error_children: dict[str, Counter] = {}
        self._issued_by_scheme: dict[str, Counter] = {}
        self._replays_by_scheme: dict[str, Counter] = {}
        self.events_written = Counter(
            "custid_events_written",
            "Events written to the feed, by type (number.issued, number.retired, …).",
            ["type"],
            registry=on,
        )
        self.webhook_deliveries = Counter(
            "custid_webhook_deliveries",
            "Webhook deliveries attempted, by outcome (delivered, failed, refused).",
            ["outcome"],
            registry=on,
        )
        self.webhook_delivery_duration = Histogram(
            "custid_webhook_delivery_seconds",
            "Time from posting an event to a webhook receiver to its answer.",
            buckets=LATENCY_BUCKETS,
            registry=on,
        )
        self.requests_in_flight = Gauge(
            "custid_http_requests_in_flight",
            "Requests being answered right now.",
            registry=on,
            multiprocess_mode="livesum",
        )

    def initialise(
        self,
        schemes: Iterable[str],
        error_codes: Iterable[str],
        event_types: Iterable[str] = (),
    ) -> None:
        """Create every known label set at zero, so dashboards and alerts see a series at once."""
        self.counter_fallbacks.inc(0)
        for scheme in schemes:
            for counter in (
                self.numbers_issued,
                self.issue_conflicts,
                self.counter_resyncs,
                self.issue_retries,
                self.idempotent_replays,
            ):
                counter.labels(scheme=scheme)
            # Counted on every issuing request: kept rather than looked up under a lock each time.
            self._issued_by_scheme[scheme] = self.numbers_issued.labels(scheme=scheme)
            self._replays_by_scheme[scheme] = self.idempotent_replays.labels(scheme=scheme)
        for code in error_codes:
            self.errors.labels(code=code)
        for event_type in event_types:
            self.events_written.labels(type=event_type)
        for outcome in ("delivered", "failed", "refused"):
            self.webhook_deliveries.labels(outcome=outcome)

    def count_issued(self, scheme: str, count: int) -> None:
        """`count` numbers of `scheme` were stored."""
        issued = self._issued_by_scheme.get(scheme) or self.numbers_issued.labels(scheme)
        issued.inc(count)

    def count_conflict(self, scheme: str) -> None:
        """An insert collided with a stored number."""
        self.issue_conflicts.labels(scheme=scheme).inc()

    def count_resync(self, scheme: str) -> None:
        """A counter was raised to the highest stored sequence."""
        self.counter_resyncs.labels(scheme=scheme).inc()

    def count_retry(self, scheme: str, requests: int = 1) -> None:
        """Issue attempts are repeated, for `requests` requests."""
        self.issue_retries.labels(scheme=scheme).inc(requests)

    def count_fallback(self) -> None:
        """The database counter served in place of Redis."""
        self.counter_fallbacks.inc()

    def count_idempotent_replay(self, scheme: str) -> None:
        """A request was answered from an earlier one with the same Idempotency-Key."""
        counter = self._replays_by_scheme.get(scheme) or self.idempotent_replays.labels(
            scheme=scheme
        )
        counter.inc()

    def count_events(self, event_type: str, count: int = 1) -> None:
        """`count` events of `event_type` were written to the feed."""
        self.events_written.labels(type=event_type).inc(count)

    def count_delivery(self, outcome: str) -> None:
        """A webhook delivery was attempted, with `outcome`."""
        self.webhook_deliveries.labels(outcome=outcome).inc()

    def observe_delivery(self, seconds: float) -> None:
        """A webhook receiver answered (or failed to) after `seconds`."""
        self.webhook_delivery_duration.observe(seconds)

    def count_error(self, code: str) -> None:
        """A problem response with `code` was sent."""
        # The child of each code is kept: a flood's refusals come thousands a second.
        child = self._error_children.get(code)
        if child is None:
            child = self._error_children[code] = self.errors.labels(code=code)
        child.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request was answered."""
        # prometheus-client finds a label set's child under a lock on every call; the
        # children of the few (method, route, status) seen are kept here instead.
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            if len(self._request_children) >= MAX_REQUEST_LABEL_SETS:
                self._request_children.clear()
            children = (
                self.requests.labels(method=method, route=route, status=str(status)),
                self.request_duration.labels(method=method, route=route),
            )
            self._request_children[key] = children
        requests, duration = children
        requests.inc()
        duration.observe(seconds)

    def exposition(self, snapshot: Snapshot) -> bytes:
        """The Prometheus text format of every metric, all workers summed."""
        scraped = CollectorRegistry()
        scraped.register(SnapshotCollector(snapshot))
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry) + generate_latest(scraped)
        MultiProcessCollector(scraped, directory)  # type: ignore[no-untyped-call]
        return generate_latest(scraped)


def forget_this_process() -> None:
    """Drop this worker's live gauges from the shared directory as it exits."""
    if multiprocess_dir() is not None:
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

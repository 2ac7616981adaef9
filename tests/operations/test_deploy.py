"""What operators deploy: alert rules (promtool), the dashboard, the container and compose files."""

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.cli.startup import refuse_open_public_port
from app.core.access import InsecureBinding
from app.settings import get_settings
from app.store.migrations import upgrade_to_head
from custid_testing.deploy_queries import DASHBOARD, DEPLOY, RULES, dashboard_queries

ROOT = DEPLOY.parent
PROMETHEUS = DEPLOY / "prometheus"
COMPOSE = DEPLOY / "docker-compose.yml"
CUSTID_REPLICAS = {"custid-1", "custid-2"}


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary (Debian package `prometheus`); CI must have it, .ci/run installs it."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required in CI: apt-get install prometheus", pytrace=False)
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def run_promtool(promtool: str, *args: str) -> str:
    result = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_alert_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    rule_tests = sorted(
        str(path.relative_to(PROMETHEUS)) for path in PROMETHEUS.glob("tests/*.yml")
    )
    assert rule_tests

    output = run_promtool(promtool, "test", "rules", *rule_tests)

    assert "SUCCESS" in output


def test_prometheus_config_and_rules_are_valid(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", str(RULES.relative_to(PROMETHEUS)))
    output = run_promtool(promtool, "check", "config", "prometheus.yml")

    assert "1 rule files found" in output


def test_alerts_cover_utilisation_exhaustion_backends_conflicts_and_5xx() -> None:
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}

    assert "> 0.8" in alerts["CustidSequenceUtilisationHigh"]["expr"]
    assert ">= 1" in alerts["CustidSequenceExhausted"]["expr"]
    assert "custid_backend_up" in alerts["CustidBackendDown"]["expr"]
    assert "custid_issue_conflicts_total" in alerts["CustidConflictRateSpike"]["expr"]
    assert 'status=~"5.."' in alerts["CustidHighServerErrorRate"]["expr"]
    behind = alerts["CustidWebhookDeliveryBehind"]["expr"]
    assert "custid_webhook_oldest_undelivered_seconds" in behind
    assert "subscription" in behind
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in alerts.values())


def test_dashboard_shows_what_operators_run_custid_from() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    queries = "\n".join(dashboard_queries())
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]

    for needed in (
        "rate(custid_numbers_issued_total",
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
        "custid_errors_total",
        "custid_sequence_utilisation_ratio",
        "custid_issue_conflicts_total",
        "custid_counter_resyncs_total",
        "custid_backend_up",
        "custid_events_written_total",
        "custid_webhook_deliveries_total",
        "custid_webhook_oldest_undelivered_seconds",
    ):
        assert needed in queries
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert all(panel["datasource"]["uid"] == datasource["uid"] for panel in panels)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_compose_runs_postgres_redis_migration_two_replicas_prometheus_and_grafana() -> None:
    services = compose()["services"]

    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "first-key",
        "custid-1",
        "custid-2",
        "prometheus",
        "grafana",
    }
    assert services["migrate"]["command"] == ["custid", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in CUSTID_REPLICAS:
        replica = services[name]
        assert "command" not in replica  # the image's CMD: custid serve
        assert replica["depends_on"]["first-key"]["condition"] == "service_completed_successfully"
        assert "@postgres:5432/" in replica["environment"]["CUSTID_DATABASE_URL"]
        assert replica["environment"]["CUSTID_REDIS_URL"].startswith("redis://redis:6379")


def start_order(services: dict[str, Any]) -> list[str]:
    """The order compose starts the services in, as their `depends_on` conditions decide."""
    started: list[str] = []
    pending = dict(services)
    while pending:
        ready = sorted(
            name
            for name, service in pending.items()
            if set(service.get("depends_on", {})) <= set(started)
        )
        assert ready, f"a dependency cycle among {sorted(pending)}"
        started += ready
        for name in ready:
            del pending[name]
    return started


def test_a_fresh_stack_creates_the_first_key_before_any_replica_serves() -> None:
    services = compose()["services"]

    order = start_order(services)

    first_key = services["first-key"]
    assert first_key["command"][:4] == ["custid", "keys", "create", "--if-no-keys"]
    assert first_key["restart"] == "no"
    assert first_key["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert order.index("postgres") < order.index("migrate") < order.index("first-key")
    for name in CUSTID_REPLICAS:
        # Waiting for the one-shot to finish, not merely to start: only then a key exists.
        condition = services[name]["depends_on"]["first-key"]["condition"]
        assert condition == "service_completed_successfully"
        assert order.index("first-key") < order.index(name)


def test_the_first_key_step_lets_a_public_replica_start_and_is_safe_to_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTID_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTID_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    arguments = compose()["services"]["first-key"]["command"][1:]
    public = get_settings().model_copy(update={"host": "0.0.0.0"})
    upgrade_to_head(public.sqlalchemy_url)  # what the stack's `migrate` does
    try:
        with pytest.raises(InsecureBinding):  # a fresh volume: no key, no public replica
            asyncio.run(refuse_open_public_port(public))
        first = CliRunner().invoke(cli, arguments)
        again = CliRunner().invoke(cli, arguments)
        asyncio.run(refuse_open_public_port(public))  # now the replicas may serve
        listed = CliRunner().invoke(cli, ["keys", "list", "--json"])
    finally:
        get_settings.cache_clear()

    assert first.exit_code == 0, first.output
    assert "secret: custid_" in first.stdout
    assert again.exit_code == 0
    assert "secret" not in again.stdout
    assert [key["name"] for key in json.loads(listed.stdout)] == ["first-admin"]


def test_prometheus_scrapes_every_replica_and_grafana_gets_its_provisioning() -> None:
    services = compose()["services"]
    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"][0]
    targets = set(scrape["static_configs"][0]["targets"])

    assert targets == {f"{name}:8000" for name in CUSTID_REPLICAS}
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    for mount in mounts:
        source = mount.split(":")[0]
        if source.startswith("."):
            assert (DEPLOY / source).exists(), mount
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert "./prometheus:/etc/prometheus:ro" in mounts


def test_compose_file_parses_with_docker_compose_when_available() -> None:
    probe = shutil.which("docker")
    if (
        probe is None
        or subprocess.run([probe, "compose", "version"], capture_output=True, timeout=30).returncode
        != 0
    ):
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [probe, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_builds_in_two_stages_and_serves_as_a_non_root_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]

    assert sum(line.startswith("FROM ") for line in instructions) == 2
    assert any(line.startswith("COPY --from=build") for line in instructions)
    [user] = [line for line in instructions if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in {"root", "0"}
    assert instructions[-1] == 'CMD ["custid", "serve", "--host", "0.0.0.0"]'
    assert not any("migrate" in line for line in instructions)


def test_image_ships_the_migrations_and_default_schemes() -> None:
    # The runtime image holds only the installed package; `custid migrate` needs these in it.
    pyproject = (ROOT / "pyproject.toml").read_text()

    assert '"migrations*"' in pyproject
    assert 'schemes = ["*.toml"]' in pyproject
    assert Path(ROOT / "migrations" / "env.py").exists()

"""The PromQL that the shipped dashboard and alert rules run, and the metrics it names."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "custid.json"
RULES = DEPLOY / "prometheus" / "rules" / "custid.rules.yml"
# Every series custid exports starts with this; others (`up`) come from Prometheus.
CUSTID_METRIC = re.compile(r"\bcustid_[a-z0-9_]+")


def dashboard_queries() -> list[str]:
    """The expression of every target of every panel of the Grafana dashboard."""
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_queries() -> list[str]:
    """The expression of every alerting and recording rule."""
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def metrics_queried() -> set[str]:
    """Names of custid's metrics that the dashboard or the alerts query."""
    return {
        name
        for query in dashboard_queries() + alert_queries()
        for name in CUSTID_METRIC.findall(query)
    }

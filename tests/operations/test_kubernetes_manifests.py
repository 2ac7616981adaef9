"""deploy/kubernetes: every manifest valid against Kubernetes' own schemas (offline, from
the kubernetes-validate package), and wired together as the README says."""

import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.settings import Settings
from custid_testing.deploy_queries import DEPLOY

MANIFESTS = DEPLOY / "kubernetes"
# The oldest Kubernetes the manifests are written for (a preStop `sleep` needs 1.30).
KUBERNETES_VERSION = "1.30"


def resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]
    return documents


def only(kind: str) -> dict[str, Any]:
    (found,) = [resource for resource in resources() if resource["kind"] == kind]
    return found


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a Deployment, Job or CronJob."""
    spec = resource["spec"]
    if resource["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]["spec"]
    return template


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize(
    "resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}"
)
def test_manifest_is_valid_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    # strict: a misspelt or misplaced field is an error, not silently ignored.
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_deployment_probes_readiness_on_readyz_and_liveness_on_healthz() -> None:
    (container,) = pod_spec(only("Deployment"))["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["command"][:2] == ["custid", "serve"]
    # Longer than the 30 s uvicorn drains for, plus the preStop pause.
    assert pod_spec(only("Deployment"))["terminationGracePeriodSeconds"] > 30 + 5


def test_service_budget_and_autoscaler_select_the_deployments_pods() -> None:
    deployment = only("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert only("Service")["spec"]["selector"].items() <= labels.items()
    budget = only("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    autoscaler = only("HorizontalPodAutoscaler")["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ((metric),) = autoscaler["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert autoscaler["minReplicas"] - budget["maxUnavailable"] >= 2


def test_migrate_job_and_check_cronjob_run_their_commands() -> None:
    (migrate,) = pod_spec(only("Job"))["containers"]
    (check,) = pod_spec(only("CronJob"))["containers"]
    assert migrate["command"] == ["custid", "migrate"]
    assert check["command"] == ["custid", "check"]
    assert only("CronJob")["spec"]["concurrencyPolicy"] == "Forbid"


def test_every_variable_the_manifests_set_is_a_setting() -> None:
    settings = {f"CUSTID_{name.upper()}" for name in Settings.model_fields}
    config = only("ConfigMap")["data"] | only("Secret")["stringData"]
    assert set(config) <= settings, set(config) - settings
    for resource in (only("Deployment"), only("Job"), only("CronJob")):
        for container in pod_spec(resource)["containers"]:
            sources = {next(iter(source.values()))["name"] for source in container["envFrom"]}
            assert sources == {only("ConfigMap")["metadata"]["name"], "custid"}


def test_the_configured_redis_and_database_settings_are_accepted() -> None:
    config = only("ConfigMap")["data"] | only("Secret")["stringData"]
    settings = Settings(
        **{name.removeprefix("CUSTID_").lower(): value for name, value in config.items()}
    )
    assert len(settings.sentinel_addresses) == 3
    assert "target_session_attrs=read-write" in settings.sqlalchemy_url


def security_contexts(node: Any) -> Iterator[dict[str, Any]]:
    """Every `securityContext` below `node`, pod and container level alike."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "securityContext":
                yield value
            yield from security_contexts(value)
    elif isinstance(node, list):
        for item in node:
            yield from security_contexts(item)


def test_pods_run_as_the_images_own_user() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    uid, gid = (
        int(found[1])
        if (found := re.search(rf"{command} [^\n]*--{option} (\d+)", dockerfile))
        else None
        for command, option in (("useradd", "uid"), ("groupadd", "gid"))
    )
    users = [
        (context.get("runAsUser"), context.get("runAsGroup"))
        for resource in resources()
        if resource["kind"] in {"Deployment", "Job", "CronJob"}
        for context in security_contexts(pod_spec(resource))
        if "runAsUser" in context
    ]

    assert (uid, gid) != (None, None), "the Dockerfile gives its user no fixed uid and gid"
    assert len(users) == 3  # the Deployment, the migrate Job and the check CronJob
    assert set(users) == {(uid, gid)}

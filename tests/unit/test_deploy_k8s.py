"""deploy/k8s: every object valid against the Kubernetes API schemas (kubernetes-validate's bundled copies, so
no network), one Deployment per service with its probe, and the extractor's KEDA scaler naming the real
consumer group and topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.common.settings import Settings
from services.common.topics import FEED_ITEMS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.37.0"


def documents() -> list[dict[str, Any]]:
    return [d for path in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("doc", [d for d in documents() if "keda.sh" not in d["apiVersion"]],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_core_objects_are_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)  # raises ValidationError naming the field


def test_a_deployment_per_service_each_probed() -> None:
    deployments = {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}
    assert set(deployments) == {f"wirewatch-{s}" for s in ("fetcher", "extractor", "store", "notifier", "api")}
    for name, d in deployments.items():
        [container] = d["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [name.removeprefix("wirewatch-")]
        probe = container["readinessProbe"]
        if name == "wirewatch-api":
            assert probe["httpGet"]["path"] == "/healthz"
        else:
            assert probe["exec"]["command"][-2:] == ["services.common.lifecycle", name.removeprefix("wirewatch-")]


def test_the_extractor_scales_on_its_consumer_lag() -> None:
    [scaler] = [d for d in documents() if d["kind"] == "ScaledObject"]
    assert scaler["spec"]["scaleTargetRef"]["name"] == "wirewatch-extractor"
    [trigger] = scaler["spec"]["triggers"]
    prefix = Settings().topic_prefix
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == FEED_ITEMS.full_name(prefix)
    assert trigger["metadata"]["consumerGroup"] == f"{prefix}extractor"  # Bus.consume prefixes group ids
    assert scaler["spec"]["maxReplicaCount"] <= FEED_ITEMS.partitions

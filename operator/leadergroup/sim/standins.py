"""Stand-ins for the controllers the emulator does not run, driven over the API like the real ones.

The emulator has no kube-controller-manager and no kubelet: a Deployment gets no ReplicaSet, no pods and
no status. Tests, benchmarks and the demo that need pods (their names are the electors' identities) or a
ready Deployment call :func:`replicate`, which does over HTTP what those controllers would do. On a real
cluster use the pods its controllers create instead (:func:`pods_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, PODS
from leadergroup.sim.objects import generate_name
from leadergroup.sim.selectors import match_labels_selector


async def pods_of(client: KubeClient, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pods the Deployment's selector (matchLabels and matchExpressions) matches, oldest first."""
    namespace = deployment["metadata"]["namespace"]
    selector = match_labels_selector(deployment["spec"]["selector"])
    found = await client.list(PODS, namespace, label_selector=selector)
    items: list[dict[str, Any]] = found.get("items") or []
    return sorted(
        items, key=lambda pod: (pod["metadata"].get("creationTimestamp", ""), pod["metadata"]["name"])
    )


def pod_for(deployment: Mapping[str, Any], template_hash: str) -> dict[str, Any]:
    """A running, ready pod as the ReplicaSet controller and the kubelet would leave it."""
    name = deployment["metadata"]["name"]
    template = deployment["spec"]["template"]
    labels = {**(template.get("metadata", {}).get("labels") or {}), "pod-template-hash": template_hash}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": generate_name(f"{name}-{template_hash}-"),
            "namespace": deployment["metadata"]["namespace"],
            "labels": labels,
            "annotations": dict(template.get("metadata", {}).get("annotations") or {}),
        },
        "spec": template["spec"],
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


async def replicate(client: KubeClient, namespace: str, name: str) -> list[str]:
    """Give the Deployment as many ready pods as it asks for and report them in its status.

    Returns:
        The names of the Deployment's pods after the step, oldest first.
    """
    deployment = await client.get(DEPLOYMENTS, name, namespace)
    wanted = int(deployment["spec"].get("replicas", 1))
    pods = await pods_of(client, deployment)
    # Not kube's hash of the template, but drawn from the same alphabet and as long.
    template_hash = generate_name("", length=10)
    for _ in range(wanted - len(pods)):
        pod = pod_for(deployment, template_hash)
        created = await client.create(PODS, pod, namespace)
        # The kubelet reports the status; here the stand-in does, through the subresource.
        await client.patch(
            PODS, created["metadata"]["name"], {"status": pod["status"]}, namespace, subresource="status"
        )
    for pod in pods[wanted:]:
        await client.delete(PODS, pod["metadata"]["name"], namespace)
    pods = await pods_of(client, deployment)
    status = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": len(pods),
        "readyReplicas": len(pods),
        "availableReplicas": len(pods),
    }
    await client.patch(DEPLOYMENTS, name, {"status": status}, namespace, subresource="status")
    return [pod["metadata"]["name"] for pod in pods]

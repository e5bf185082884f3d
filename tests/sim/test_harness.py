"""The Emulator's Python face and the controller stand-ins."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.sim.conftest import LEASES, Api, lease

from leadergroup.kube import KubeClient
from leadergroup.sim import Emulator
from leadergroup.sim.objects import GENERATE_NAME_ALPHABET
from leadergroup.sim.standins import pods_of, replicate

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


async def test_objects_are_copies(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", LEASES, lease("a", holder="me"))
    [stored] = emulator.objects("coordination.k8s.io", "leases", "default")
    stored["spec"]["holderIdentity"] = "tampered"
    assert (await api.ok("GET", f"{LEASES}/a"))["spec"]["holderIdentity"] == "me"


def test_written_kubeconfig_is_the_kubeconfig(emulator: Emulator, tmp_path: Path) -> None:
    path = emulator.write_kubeconfig(tmp_path / "kc", token="t", namespace="ns")
    assert yaml.safe_load(path.read_text()) == emulator.kubeconfig("t", "ns")
    assert emulator.kubeconfig()["clusters"][0]["cluster"]["server"] == emulator.url


async def test_replicate_honours_match_expressions(emulator: Emulator, api: Api, tmp_path: Path) -> None:
    labels = {"app": "x", "tier": "web"}
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": "x"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}],
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    await api.ok("POST", DEPLOYMENTS, deployment)
    # A pod matching matchLabels but not matchExpressions is not the Deployment's.
    stranger = {
        "metadata": {"name": "stranger", "labels": {"app": "x", "tier": "db"}},
        "spec": {"containers": []},
    }
    await api.ok("POST", "/api/v1/namespaces/default/pods", stranger)
    async with KubeClient.auto(emulator.write_kubeconfig(tmp_path / "kc")) as client:
        names = await replicate(client, "default", "d")
        assert len(names) == 2 and "stranger" not in names
        for name in names:
            prefix, template_hash, suffix = name.rsplit("-", 2)
            assert prefix == "d" and len(template_hash) == 10 and len(suffix) == 5
            assert set(template_hash + suffix) <= set(GENERATE_NAME_ALPHABET)
        stored = await api.ok("GET", f"{DEPLOYMENTS}/d")
        assert [pod["metadata"]["name"] for pod in await pods_of(client, stored)] == names

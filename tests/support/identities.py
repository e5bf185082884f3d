"""Run a test's electors as a group's ServiceAccount, as its pods would.

On a real cluster the token comes from the TokenRequest API, so the API server's RBAC judges every elector
request against the Role the operator made. On the emulator (no authentication, no RBAC) the kubeconfig
carries the ServiceAccount's user name as its token: the request log then tells the electors' requests
apart, and tests check them against the same Role with `tests.support.rbac`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.support.cluster import Cluster

from leadergroup.kube import KubeClient


def service_account_user(namespace: str, name: str) -> str:
    """The user name Kubernetes gives a ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{name}"


def _with_token(admin_kubeconfig: Path, token: str, namespace: str) -> dict[str, Any]:
    config = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == current["cluster"])
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "service-account", "user": {"token": token}}],
        "contexts": [
            {
                "name": "service-account",
                "context": {"cluster": cluster["name"], "user": "service-account", "namespace": namespace},
            }
        ],
        "current-context": "service-account",
    }


async def service_account_kubeconfig(cluster: Cluster, client: KubeClient, name: str, workdir: Path) -> Path:
    """A kubeconfig acting as ServiceAccount ``name`` of the test's namespace (it must exist)."""
    path = workdir / f"kubeconfig-sa-{name}"
    user = service_account_user(cluster.namespace, name)
    if cluster.emulator is not None:
        return cluster.kubeconfig_for(user)
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = await client.request(
        "POST", f"/api/v1/namespaces/{cluster.namespace}/serviceaccounts/{name}/token", body=request
    )
    path.write_text(
        yaml.safe_dump(_with_token(cluster.kubeconfig, answer["status"]["token"], cluster.namespace))
    )
    return path

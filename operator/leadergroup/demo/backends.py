"""Where the demo runs: the in-process emulator (default) or a real cluster (``--kubeconfig``).

Both give the scenario a kubeconfig, a namespace of its own and the pods' names. The emulator runs no
controllers, so the stand-ins create the Deployment's pods; a real cluster creates them itself, and they
stay Pending (the demo's template is never scheduled): only their names are needed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leadergroup import packaged
from leadergroup.kube import ApiError, ApiUnavailable, ConfigError, KubeClient
from leadergroup.kube.resources import CRDS, DEPLOYMENTS, NAMESPACES
from leadergroup.sim import Emulator
from leadergroup.sim.standins import pods_of, replicate

Say = Callable[[str], None]
Progress = Callable[[str], None]
EMULATOR_NAMESPACE = "leadergroup-demo"


class DemoError(Exception):
    """Something the user has to fix or know about; reported in a few lines, exit status 1."""


class EmulatorBackend:
    """An emulated API server on 127.0.0.1 with the project's CRDs; it lives as long as the demo."""

    keep_pending = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.namespace = EMULATOR_NAMESPACE
        self.emulator: Emulator | None = None
        # The emulator does not authenticate; distinct tokens only name the callers in its request log.
        self.kubeconfig = workdir / "kubeconfig-demo"
        self.operator_kubeconfig = workdir / "kubeconfig-operator"
        self.elector_kubeconfig = workdir / "kubeconfig-elector"

    @property
    def where(self) -> str:
        """One line for the header."""
        return f"emulated API server at {self.emulator.url if self.emulator else '?'} (no cluster)"

    async def setup(self, say: Say) -> None:
        """Start the emulator, load the CRDs, create the namespace and write the kubeconfigs."""
        emulator = await asyncio.to_thread(Emulator().start)
        self.emulator = emulator
        crds = packaged.crds()
        emulator.load_crds(*crds)
        emulator.create_namespace(self.namespace)
        for path, token in (
            (self.kubeconfig, "demo"),
            (self.operator_kubeconfig, "leadergroup-operator"),
            (self.elector_kubeconfig, "elector"),
        ):
            emulator.write_kubeconfig(path, token=token, namespace=self.namespace)
        names = ", ".join(str(crd["metadata"]["name"]) for crd in crds)
        say(f"Started an emulated Kubernetes API server at {emulator.url}, with the CRDs {names}")

    async def pod_names(
        self, client: KubeClient, deployment: str, replicas: int, progress: Progress
    ) -> list[str]:
        """Create the Deployment's pods as its controllers and the kubelet would, and name them."""
        progress("Creating the Deployment's pods (the emulator runs no controllers: a stand-in does)")
        return (await replicate(client, self.namespace, deployment))[:replicas]

    async def teardown(self, client: KubeClient | None, say: Say) -> None:
        """Stop the emulator (its state goes with it)."""
        if self.emulator is not None:
            say("Stopping the emulated API server")
            await asyncio.to_thread(self.emulator.stop)
            self.emulator = None


class ClusterBackend:
    """A real cluster: a fresh namespace, deleted afterwards; CRDs installed if missing."""

    keep_pending = True

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.operator_kubeconfig = kubeconfig
        self.elector_kubeconfig = kubeconfig
        self.namespace = f"leadergroup-demo-{secrets.token_hex(3)}"
        self.server = "?"
        self._created_namespace = False

    @property
    def where(self) -> str:
        """One line for the header."""
        return f"cluster {self.server}"

    async def setup(self, say: Say) -> None:
        """Check the cluster answers, install missing CRDs, create the namespace.

        Raises:
            DemoError: the kubeconfig is unusable, the cluster does not answer or refuses.
        """
        try:
            client = KubeClient.auto(self.kubeconfig, request_timeout=10)
        except ConfigError as error:
            raise DemoError(f"Cannot use {self.kubeconfig}: {error}") from None
        async with client:
            self.server = client.connection.server
            try:
                version = await client.request("GET", "/version")
                say(f"Using the cluster at {self.server} (Kubernetes {version.get('gitVersion', '?')})")
                await self._install_crds(client, say)
                await client.create(NAMESPACES, {"metadata": {"name": self.namespace}})
            except ApiUnavailable as error:
                raise DemoError(f"The cluster at {self.server} does not answer: {error.message}") from None
            except ApiError as error:
                raise DemoError(f"The cluster at {self.server} refused: {error}") from None
            self._created_namespace = True
            say(f"Created the namespace {self.namespace} (deleted when the demo ends)")

    async def _install_crds(self, client: KubeClient, say: Say) -> None:
        for crd in packaged.crds():
            name = str(crd["metadata"]["name"])
            try:
                await client.get(CRDS, name)
                continue
            except ApiError as error:
                if not error.not_found:
                    raise
            say(f"Installing the missing CRD {name} (it stays; `kubectl delete crd {name}` removes it)")
            await client.create(CRDS, crd)
            deadline = time.monotonic() + 30
            while not _established(await client.get(CRDS, name)):
                if time.monotonic() > deadline:
                    raise DemoError(f"The CRD {name} was not Established within 30s")
                await asyncio.sleep(0.5)

    async def pod_names(
        self, client: KubeClient, deployment: str, replicas: int, progress: Progress
    ) -> list[str]:
        """Wait for the Deployment's controllers to create its pods (Pending is fine) and name them.

        Raises:
            DemoError: the pods did not appear in time.
        """
        body = await client.get(DEPLOYMENTS, deployment, self.namespace)
        deadline = time.monotonic() + 60
        while True:
            pods = [p for p in await pods_of(client, body) if not p["metadata"].get("deletionTimestamp")]
            if len(pods) >= replicas:
                return [pod["metadata"]["name"] for pod in pods[:replicas]]
            if time.monotonic() > deadline:
                raise DemoError(f"The Deployment {deployment} has {len(pods)} of {replicas} pods after 60s")
            progress(f"Waiting for the Deployment's pods: {len(pods)}/{replicas} (they stay Pending: fine)")
            await asyncio.sleep(1)

    async def teardown(self, client: KubeClient | None, say: Say) -> None:
        """Delete the namespace (the cluster finishes that in the background)."""
        if not self._created_namespace or client is None:
            return
        say(f"Deleting the namespace {self.namespace} (the cluster finishes that in the background)")
        try:
            await client.delete(NAMESPACES, self.namespace, propagation_policy="Background")
        except ApiError as error:
            say(f"Could not delete the namespace {self.namespace}: {error}; `kubectl delete ns` it")
        self._created_namespace = False


Backend = EmulatorBackend | ClusterBackend


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

"""leadergroup: the project's front door.

- leadergroup start runs the operator against the current kubeconfig (installing the CRDs if they are
  missing); with no kubeconfig at all (none given, no $KUBECONFIG, no ~/.kube/config, not in a cluster)
  it runs the no-cluster demo instead. A kubeconfig that cannot be read, or a cluster that does not
  answer, is an error: a typo must not quietly turn into a demo.
- leadergroup demo runs the demo: an emulated API server, the real operator and three real electors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from leadergroup import __version__, packaged
from leadergroup.cli import INTERRUPTED
from leadergroup.kube import ApiError, ApiUnavailable, ConfigError, KubeClient
from leadergroup.kube.resources import CRDS, LEADERGROUPS


class NoCluster(Exception):
    """The kubeconfig cannot be used, or its cluster does not answer: said in one plain line."""


def has_kubeconfig(kubeconfig: str | None, env: Mapping[str, str]) -> bool:
    """Whether the user pointed us at a cluster at all (as kubectl and Kopf look for one)."""
    return bool(
        kubeconfig
        or env.get("KUBECONFIG")
        or Path("~/.kube/config").expanduser().exists()
        or env.get("KUBERNETES_SERVICE_HOST")
    )


def _plain_cause(error: BaseException) -> str:
    """What the HTTP client said (``Cannot connect to host ...``), not a nested exception's repr."""
    cause = error.__cause__ or error
    return str(cause) or type(cause).__name__


async def _connect_and_install_crds(kubeconfig: str | None) -> str:
    """Check the cluster answers, install missing CRDs, and describe the cluster.

    Raises:
        NoCluster: the kubeconfig cannot be used or the cluster does not answer.
    """
    try:
        client = KubeClient.auto(kubeconfig, request_timeout=5)
    except ConfigError as error:
        raise NoCluster(str(error)) from None
    async with client:
        try:
            version = await client.request("GET", "/version")
        except ApiUnavailable as error:
            raise NoCluster(f"{client.connection.server} does not answer: {_plain_cause(error)}") from None
        except ApiError as error:
            raise NoCluster(f"{client.connection.server} refused /version: {error}") from None
        try:
            await _install_missing_crds(client)
            await _wait_until_groups_are_served(client)
        except ApiError as error:
            raise NoCluster(f"{client.connection.server} refused the CRDs: {error}") from None
        return f"{client.connection.server} (Kubernetes {version.get('gitVersion', '?')})"


async def _install_missing_crds(client: KubeClient) -> None:
    missing = []
    for crd in packaged.crds():
        try:
            await client.get(CRDS, crd["metadata"]["name"])
        except ApiError as error:
            if not error.not_found:
                raise
            missing.append(crd)
    for crd in missing:
        print(f"Installing CRD {crd['metadata']['name']} (kubectl apply -k crds/ does the same)")
        await client.create(CRDS, crd)


# A CRD just created is Established before its storage serves: the API server answers 429 "storage is
# (re)initializing" (a real one, for a few seconds), or 404 while discovery catches up. Kopf retries those
# but logs each as an ERROR, the first thing a new user would see; waiting here keeps the log clean.
STORAGE_WAIT_SECONDS = 60.0


async def _wait_until_groups_are_served(client: KubeClient, limit: float = STORAGE_WAIT_SECONDS) -> None:
    """Return once LeaderGroups can be listed (or after ``limit``: Kopf's own retries take over)."""
    deadline = asyncio.get_running_loop().time() + limit
    told = False
    while True:
        try:
            await client.request("GET", LEADERGROUPS.path(), params={"limit": "1"})
            return
        except ApiError as error:
            if error.status not in (404, 429):
                raise
            if asyncio.get_running_loop().time() >= deadline:
                return
            if not told:
                print("Waiting for the API server to serve LeaderGroups (a new CRD's storage starts up)")
                told = True
            retry_after = (error.body.get("details") or {}).get("retryAfterSeconds") or 1
            await asyncio.sleep(min(float(retry_after), 1.0))


def start(options: argparse.Namespace) -> int:
    """Run the operator against the user's cluster; with no kubeconfig at all, the demo."""
    if not has_kubeconfig(options.kubeconfig, os.environ):
        print("No kubeconfig found (no --kubeconfig, $KUBECONFIG or ~/.kube/config; not in a cluster).")
        print("Running the built-in demo instead: an emulated API server on 127.0.0.1, no cluster needed.\n")
        return demo([])
    try:
        detail = asyncio.run(_connect_and_install_crds(options.kubeconfig))
    except NoCluster as error:
        print(f"leadergroup start: error: {error}", file=sys.stderr)
        print("Check the kubeconfig, or run the no-cluster demo: leadergroup demo", file=sys.stderr)
        return 1
    print(f"Running the operator against {detail}, all namespaces, standalone. Ctrl-C stops it.")
    from leadergroup.cli import operator  # Kopf is imported only when it runs

    args = ["--all-namespaces", "--standalone"]
    if options.kubeconfig:
        args += ["--kubeconfig", options.kubeconfig]
    return operator.main(args)


def demo(argv: Sequence[str]) -> int:
    """Run the no-cluster demo."""
    from leadergroup.demo import main as demo_main  # the emulator is an optional extra

    return demo_main(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a subcommand."""
    parser = argparse.ArgumentParser(
        prog="leadergroup",
        description="Make any workload highly available through Kubernetes leader election.",
        epilog="The operator alone: leadergroup-operator --help. The elector: leadergroup-elector --help.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    start_parser = commands.add_parser(
        "start",
        help="the operator against your cluster (the demo when there is no kubeconfig at all)",
        description="Run the operator against your cluster, all namespaces, standalone; install the CRDs "
        "if they are missing. With no kubeconfig at all, run the no-cluster demo instead.",
    )
    start_parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    commands.add_parser("demo", help="the no-cluster demo", add_help=False)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        return demo(arguments[1:])
    options = parser.parse_args(arguments)
    if options.command is None:
        parser.print_help()
        return 2
    try:
        return start(options)
    except KeyboardInterrupt:
        # Ctrl-C while the CRDs are installed or Kopf is imported, before anything runs: no traceback.
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

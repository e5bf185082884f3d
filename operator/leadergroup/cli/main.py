"""``leadergroup``: the project's front door.

- ``leadergroup start`` runs the operator against the current kubeconfig (installing the CRDs if they are
  missing), or the no-cluster demo when no cluster answers;
- ``leadergroup demo`` runs the demo: an emulated API server, the real operator and three real electors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from leadergroup import packaged
from leadergroup.kube import ApiError, ConfigError, KubeClient
from leadergroup.kube.resources import CRDS


async def _cluster_answers(kubeconfig: str | None) -> tuple[bool, str]:
    try:
        client = KubeClient.auto(kubeconfig, request_timeout=5)
    except ConfigError as error:
        return False, str(error)
    async with client:
        try:
            version = await client.request("GET", "/version")
        except ApiError as error:
            return False, f"{client.connection.server} does not answer: {error.message}"
        missing = []
        for crd in packaged.crds():
            try:
                await client.get(CRDS, crd["metadata"]["name"])
            except ApiError as error:
                if not error.not_found:
                    raise
                missing.append(crd)
        for crd in missing:
            print(f"Installing CRD {crd['metadata']['name']} (kubectl apply -f crds/ does the same)")
            await client.create(CRDS, crd)
        return True, f"{client.connection.server} (Kubernetes {version.get('gitVersion', '?')})"


def start(options: argparse.Namespace) -> int:
    """Run the operator if a cluster answers, else the demo."""
    reachable, detail = asyncio.run(_cluster_answers(options.kubeconfig))
    if not reachable:
        print(f"No cluster to run against ({detail}).")
        print("Running the built-in demo instead: an emulated API server on 127.0.0.1, no cluster needed.\n")
        return demo([])
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
        prog="leadergroup", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="the operator against your cluster, else the demo")
    start_parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    commands.add_parser("demo", help="the no-cluster demo", add_help=False)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["demo"]:
        return demo(arguments[1:])
    options = parser.parse_args(arguments)
    return start(options)


if __name__ == "__main__":
    sys.exit(main())

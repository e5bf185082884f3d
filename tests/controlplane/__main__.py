"""``python -m tests.controlplane build|up``: build the real control plane, or run one for a person."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.controlplane.build import CONTROL_PLANE, RECIPES, ToolchainMissing, ensure_built

REQUIRE_REAL_ENV = "LEADERGROUP_REQUIRE_REAL_BACKEND"

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def _build(options: argparse.Namespace) -> int:
    try:
        for recipe in RECIPES:
            print(ensure_built(recipe))
    except ToolchainMissing as missing:
        if options.optional and os.environ.get(REQUIRE_REAL_ENV, "") in ("", "0", "false"):
            print(f"real backend skipped: {missing}", file=sys.stderr)
            return 0
        raise
    return 0


def _up(options: argparse.Namespace) -> int:
    from tests.controlplane.cluster import control_plane

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    workdir = Path(options.workdir) if options.workdir else None
    with control_plane(workdir, audit=options.audit, nodes=options.nodes) as plane:
        if not options.no_crds:
            subprocess.run(
                [str(plane.kubectl), "--kubeconfig", str(plane.kubeconfig), "apply", "-k", str(CRD_DIR)],
                check=True,
            )
        print(
            f"Control plane {plane.server} is up ({CONTROL_PLANE.kubernetes_version()}; "
            + (
                f"{options.nodes} KWOK nodes for pods that tolerate kwok.x-k8s.io/node=fake"
                if options.nodes
                else "no kubelet: pods stay Pending"
            )
            + ").\nIn another shell:\n"
            f"  export KUBECONFIG={plane.kubeconfig}\n"
            f"  export PATH={plane.bin_dir}:$PATH   # kubectl of the same release\n"
            "  kubectl get lg -A\n"
            "Ctrl-C stops it and removes its files.",
            flush=True,
        )
        stop.wait()
    return 0


def _openapi(options: argparse.Namespace) -> int:
    from tests.controlplane.cluster import control_plane
    from tests.controlplane.openapi import write_snapshot

    with control_plane(None) as plane:
        print(write_snapshot(plane.kubectl, plane.kubeconfig, CONTROL_PLANE.kubernetes_version()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the binaries into the cache (once per machine)")
    build.add_argument(
        "--optional",
        action="store_true",
        help="without Go, say so and exit 0 (unless LEADERGROUP_REQUIRE_REAL_BACKEND=1)",
    )
    build.set_defaults(run=_build)
    up = commands.add_parser("up", help="start a control plane and wait for Ctrl-C")
    up.add_argument("--workdir", help="keep its files here (default: a temporary folder, removed at exit)")
    up.add_argument("--audit", action="store_true", help="write the API server's audit log (Metadata, JSON)")
    up.add_argument("--no-crds", action="store_true", help="do not install the project's CRDs")
    up.add_argument(
        "--nodes",
        type=int,
        default=0,
        metavar="N",
        help="N simulated nodes (KWOK), tainted kwok.x-k8s.io/node=fake:NoSchedule: pods that tolerate "
        "it get scheduled and become Running and Ready",
    )
    up.set_defaults(run=_up)
    snapshot = commands.add_parser(
        "openapi", help="rewrite the emulator's built-in OpenAPI schemas from a fresh control plane"
    )
    snapshot.set_defaults(run=_openapi)
    options = parser.parse_args(argv)
    try:
        return int(options.run(options))
    except ToolchainMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

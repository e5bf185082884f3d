"""``python -m leadergroup.sim serve --port PORT --kubeconfig PATH [--crds DIR]``.

Serves the emulator on plain HTTP (no auth) until SIGTERM/SIGINT, after writing a kubeconfig that
points at it. Without ``--crds`` the project's CRDs shipped in the package are loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import sys
from collections.abc import Sequence

import yaml

from leadergroup.packaged import crd_files
from leadergroup.sim.harness import AsyncEmulator

logger = logging.getLogger("leadergroup.sim")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m leadergroup.sim",
        description="An in-process Kubernetes API emulator (the demo's and the tests' API server), "
        "served for kubectl on plain HTTP with no authentication.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Kubernetes API emulator until SIGTERM/SIGINT")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    serve.add_argument("--kubeconfig", type=pathlib.Path, required=True, help="where to write the kubeconfig")
    serve.add_argument("--token", default="admin", help="bearer token of the kubeconfig's user")
    serve.add_argument("--namespace", default="default", help="namespace of the kubeconfig's context")
    serve.add_argument(
        "--crds", type=pathlib.Path, help="directory of CRD YAML files (default: the package's)"
    )
    serve.add_argument("--bookmark-interval", type=float, default=2.0, help="seconds between watch bookmarks")
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Run until a termination signal arrives."""
    emulator = AsyncEmulator(args.host, args.port, bookmark_interval=args.bookmark_interval)
    files = sorted(args.crds.glob("*.yaml")) if args.crds else crd_files()
    created = emulator.load_crds(*files)
    await emulator.start()
    args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    args.kubeconfig.write_text(
        yaml.safe_dump(emulator.kubeconfig(args.token, args.namespace), sort_keys=False),
        encoding="utf-8",
    )
    logger.info(
        "Serving the Kubernetes API emulator on %s with %d CRDs; kubeconfig %s",
        emulator.url,
        len(created),
        args.kubeconfig,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    logger.info("Stopping the Kubernetes API emulator on %s", emulator.url)
    await emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``leadergroup-operator``: ``kopf run`` with this operator's handlers, peering and defaults.

By default replicas coordinate through Kopf peering (the cluster-wide ``ClusterKopfPeering``
``leadergroup-operator``, or a ``KopfPeering`` of that name in each namespace given with ``--namespace``):
one replica works, the others stand by. ``--standalone`` runs without peering (one replica only).
``--shard INDEX/COUNT`` makes this replica (and its standbys) serve one shard of the namespaces, so that
several shards work at once (:mod:`leadergroup.cli.sharding`).

``kopf run -m leadergroup.handlers`` works too, with Kopf's own peering defaults (lifetime 60 s, one
priority for every replica unless given) — fine for a single replica, not for the HA Deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from leadergroup import __version__, constants
from leadergroup.cli import INTERRUPTED, peering, sharding
from leadergroup.cli.activity import PeeringGate
from leadergroup.cli.kopfimport import kopf  # the first import of Kopf (see its module)
from leadergroup.following import ActivityGate, AlwaysActive, Following
from leadergroup.kube import ApiError, ConfigError, KubeClient
from leadergroup.kube import config as kube_config
from leadergroup.kube.resources import LEASES

logger = logging.getLogger("leadergroup.cli.operator")


def build_parser() -> argparse.ArgumentParser:
    """The command line, with Kopf's own option names."""
    parser = argparse.ArgumentParser(
        prog="leadergroup-operator",
        description="Run the LeaderGroup operator (Kopf) with the current kubeconfig or in-cluster config.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)"
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="serve every namespace (default)")
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="serve only NS (repeatable, globs); peering then uses a KopfPeering in each NS",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="INDEX/COUNT",
        help="serve only the namespaces that hash into shard INDEX of COUNT (server-side sharded watches: "
        f"Kubernetes >= 1.36 with the {sharding.FEATURE_GATE} feature gate); one Deployment per shard, "
        "each with its own peering (default name: NAME-shard-INDEX-of-COUNT)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--standalone", action="store_true", help="run without Kopf peering (a single replica only)"
    )
    mode.add_argument(
        "--peering",
        metavar="NAME",
        default=peering.DEFAULT_PEERING_NAME,
        help="Kopf peering object the replicas coordinate through (default: %(default)s)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority, higher wins (default: chosen free among the live replicas)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=peering.DEFAULT_LIFETIME,
        metavar="SECONDS",
        help="how long a replica's keep-alive counts; a standby takes over this long after a crash "
        "(default: %(default)s; Kopf's own default is 60)",
    )
    parser.add_argument(
        "--liveness", metavar="URL", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("LEADERGROUP_METRICS_PORT") or 0) or None,
        metavar="PORT",
        help="serve Prometheus metrics on PORT (default: $LEADERGROUP_METRICS_PORT, else off)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log more")
    verbosity.add_argument("--debug", action="store_true", help="log everything")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    return parser


def _shard(text: str) -> sharding.Shard:
    try:
        return sharding.Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def peering_name(options: argparse.Namespace) -> str:
    """The peering object's name: each shard needs its own, or the shards' replicas would pause each other.

    Kopf lets only the highest priority in one peering object work, so the active replicas of two shards
    sharing one would leave a single shard served.
    """
    shard: sharding.Shard | None = options.shard
    if shard is not None and options.peering == peering.DEFAULT_PEERING_NAME:
        return f"{options.peering}-shard-{shard.index}-of-{shard.count}"
    return str(options.peering)


def peering_plan(options: argparse.Namespace, identity: str) -> peering.PeeringPlan | None:
    """Where the replicas' keep-alives go, or None when running standalone."""
    if options.standalone:
        return None
    return peering.PeeringPlan(
        name=peering_name(options),
        # A glob names no object we can read: its namespaces' peerings are left to Kopf alone.
        namespaces=[ns for ns in options.namespace if not peering.is_glob(ns)],
        identity=identity,
        lifetime=options.peering_lifetime,
    )


async def run(options: argparse.Namespace) -> int:
    """Choose this replica's peering priority, then run Kopf until SIGTERM/SIGINT."""
    identity = peering.own_identity()
    plan = peering_plan(options, identity)
    settings = kopf.OperatorSettings()
    settings.peering.lifetime = options.peering_lifetime
    async with contextlib.AsyncExitStack() as stack:
        if options.shard is not None and not await _serve_shard(options, settings):
            return 2
        priority = options.priority
        if plan is not None:
            client = KubeClient.auto(user_agent="leadergroup-operator/peering")
            stack.push_async_callback(client.close)
            try:
                if priority is None:
                    priority = await peering.initial_priority(plan, client)
                    stack.push_async_callback(
                        _stop,
                        asyncio.create_task(
                            peering.resolve_ties(plan, client, settings, interval=plan.lifetime)
                        ),
                    )
                else:
                    await plan.read_peers(client)  # fail now rather than stay paused forever
            except peering.PeeringError as error:
                logger.error("%s", error)
                return 2
            logger.info(
                "Peering through %s as %s with priority %d (lifetime %ds)",
                plan.describe(),
                identity,
                priority,
                plan.lifetime,
            )
            # Kopf sets this too, once it runs; the gate may judge the peering object before that.
            settings.peering.priority = priority
        memo = kopf.Memo()
        following = own_following(options, plan, settings, stack)
        if following is not None:
            memo["following"] = following
        await kopf.operator(
            settings=settings,
            identity=identity,  # type: ignore[arg-type]  # Kopf's NewType over str
            standalone=plan is None,
            peering_name=plan.name if plan else None,
            priority=priority,
            liveness_endpoint=options.liveness,
            clusterwide=not options.namespace,
            namespaces=options.namespace,
            memo=memo,
        )
    return 0


def own_following(
    options: argparse.Namespace,
    plan: peering.PeeringPlan | None,
    settings: kopf.OperatorSettings,
    stack: contextlib.AsyncExitStack,
) -> Following | None:
    """The operator's own watches of Leases, pods, children (leadergroup.following); None: Kopf's.

    Kopf keeps them where a namespace is a pattern: only Kopf's namespace observer knows which
    namespaces match, and the peering objects of those namespaces are Kopf's alone.
    """
    if any(peering.is_glob(namespace) for namespace in options.namespace):
        return None
    gate: ActivityGate = AlwaysActive()
    if plan is not None:
        client = KubeClient.auto(user_agent="leadergroup-operator/peering-gate")
        stack.push_async_callback(client.close)
        peering_gate = PeeringGate(
            plan, client, lambda: int(settings.peering.priority), sharded=options.shard is not None
        )
        stack.push_async_callback(_stop, asyncio.create_task(peering_gate.run()))
        gate = peering_gate
    shard: sharding.Shard | None = options.shard
    return Following(
        namespaces=tuple(options.namespace),
        label_selector=f"{constants.LABEL_MANAGED_BY}={constants.MANAGER}",
        gate=gate,
        shard_selector=shard.selector() if shard else None,
    )


async def _serve_shard(options: argparse.Namespace, settings: kopf.OperatorSettings) -> bool:
    """Filter our watches to this replica's shard, once the API server is known to apply the filter."""
    from leadergroup.handlers import LEADERGROUPS, WATCHED_CHILDREN

    shard: sharding.Shard = options.shard
    plain = [ns for ns in options.namespace if not peering.is_glob(ns)]
    async with KubeClient.auto(user_agent="leadergroup-operator/sharding") as client:
        try:
            await sharding.verify_server_filters(client, shard, LEASES, plain[0] if plain else None)
        except (sharding.ShardingUnsupported, ApiError) as error:
            logger.error("Cannot serve shard %s: %s", shard, error)
            return False
    sharding.apply_to(settings, shard, [LEADERGROUPS, *WATCHED_CHILDREN])
    logger.info("Serving shard %s: %s", shard, shard.selector())
    return True


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def port_unavailable(port: int) -> str | None:
    """Why ``port`` cannot be served on every interface (it is taken, or not ours to bind), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the HTTP server binds it: SO_REUSEADDR, so a port in TIME_WAIT after a restart is not "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - the metrics server listens on every interface
        except OSError as error:
            return error.strerror or str(error)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the operator until SIGTERM/SIGINT."""
    options = build_parser().parse_args(argv)
    if options.kubeconfig:
        # Kopf's login and our client both read KUBECONFIG.
        os.environ["KUBECONFIG"] = str(Path(options.kubeconfig).resolve())
    if options.metrics_port:
        # Read by the startup handler, so that `kopf run -m leadergroup.handlers` honours it too.
        os.environ["LEADERGROUP_METRICS_PORT"] = str(options.metrics_port)
    if options.peering_lifetime < 1:
        build_parser().error("--peering-lifetime must be at least 1")
    if options.metrics_port and (problem := port_unavailable(options.metrics_port)):
        # Kopf would retry a failing startup handler every minute without a word; a pod must restart.
        print(
            f"leadergroup-operator: error: --metrics-port {options.metrics_port}: {problem}", file=sys.stderr
        )
        return 1
    try:
        # As for the port: Kopf would retry its login and startup every minute on a kubeconfig that can
        # never work (unreadable, a SOCKS proxy, no cluster at all), with a traceback each time.
        kube_config.auto()
    except ConfigError as error:
        print(f"leadergroup-operator: error: {error}", file=sys.stderr)
        return 1
    try:
        kopf.configure(verbose=options.verbose, debug=options.debug, quiet=options.quiet)
        import leadergroup.handlers  # noqa: F401  (registers the handlers)

        with contextlib.suppress(asyncio.CancelledError):
            return asyncio.run(run(options))
    except KeyboardInterrupt:
        # Ctrl-C before Kopf installed its own SIGINT handler (it does so only once its tasks are spawned):
        # Python or asyncio stopped the start instead. Interrupted: no traceback, the conventional 130.
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command-line flags of ``leadergroup-elector``, compatible with the blog's Go program.

Go's ``flag`` package takes ``-name=value``, ``-name value``, ``--name=value`` and ``--name value``;
so do we. Every flag defaults from the environment the operator injects into the group's pods, then from
client-go's defaults.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from leadergroup import __version__, constants
from leadergroup.elector.timing import (
    ElectionTiming,
    InvalidDurationError,
    InvalidTimingError,
    parse_duration,
)

Mode = Literal["elect", "run", "sidecar"]
MODES: tuple[Mode, ...] = ("run", "sidecar")
DEFAULT_HTTP_ADDRESS = ":8080"


class UsageError(Exception):
    """Bad flags or timings: reported in one line, exit status 2."""


@dataclass(frozen=True)
class ElectorOptions:
    """Everything the command line and the environment say."""

    mode: Mode
    identity: str
    lease_name: str
    lease_namespace: str | None
    kubeconfig: str | None
    timing: ElectionTiming
    leading_log: Path | None = None
    http_address: str = DEFAULT_HTTP_ADDRESS
    grace_period: float | None = None
    command: list[str] = field(default_factory=list)
    verbosity: int = 0
    rejoin: bool = True

    @property
    def effective_grace_period(self) -> float:
        """Seconds between SIGTERM and SIGKILL of the command: default LD - RD (see docs/elector.md)."""
        if self.grace_period is not None:
            return self.grace_period
        return self.timing.lease_duration - self.timing.renew_deadline


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser(mode: Mode) -> _Parser:
    prog = "leadergroup-elector" if mode == "elect" else f"leadergroup-elector {mode}"
    usage = {
        "elect": "%(prog)s [FLAGS]",
        "run": "%(prog)s [FLAGS] -- CMD [ARGS...]",
        "sidecar": "%(prog)s [FLAGS]",
    }[mode]
    description = {
        "elect": (
            "A client-go-compatible leader elector on a Lease. Alone it behaves like client-go's example "
            "(logs the leader, a work loop while leading); its modes do more:\n"
            "  leadergroup-elector run [FLAGS] -- CMD [ARGS...]   run CMD only while this replica leads\n"
            "  leadergroup-elector sidecar [FLAGS]                serve GET /leader and /healthz over HTTP\n"
            "Run 'leadergroup-elector run -h' or 'leadergroup-elector sidecar -h' for theirs."
        ),
        "run": "Run CMD only while this replica leads: SIGTERM, then SIGKILL after the grace period, when "
        "leadership is lost.",
        "sidecar": 'Elect, and serve GET /leader ({"name": ..., "isLeader": ...}) and GET /healthz.',
    }[mode]
    parser = _Parser(
        prog=prog,
        usage=usage,
        description=description,
        epilog="Flags take Go's forms too: -name=value, -name value, --name=value.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        add_help=True,
    )

    def flag(name: str, **kwargs: object) -> None:
        parser.add_argument(f"-{name}", f"--{name}", **kwargs)  # type: ignore[arg-type]

    flag("id", dest="identity", metavar="ID", help="holder identity (default $POD_NAME, else host-random)")
    flag("lease-lock-name", dest="lease_name", metavar="NAME", help="Lease name (default $LEASE_NAME)")
    flag(
        "lease-lock-namespace",
        dest="lease_namespace",
        metavar="NAMESPACE",
        help="Lease namespace (default $LEASE_NAMESPACE, $POD_NAMESPACE, then the kubeconfig's or pod's)",
    )
    flag("kubeconfig", metavar="PATH", help="kubeconfig (default $KUBECONFIG, ~/.kube/config, in-cluster)")
    flag("lease-duration", metavar="DURATION", help="e.g. 15s (default $LEASE_DURATION_SECONDS, else 15s)")
    flag("renew-deadline", metavar="DURATION", help="e.g. 10s (default $RENEW_DEADLINE_SECONDS, else 10s)")
    flag("retry-period", metavar="DURATION", help="e.g. 2s (default $RETRY_PERIOD_SECONDS, else 2s)")
    flag("leading-log", metavar="PATH", help="append JSON lines {event, id, t} when leading starts/stops")
    flag("v", dest="verbosity", metavar="LEVEL", type=int, default=0, help="log verbosity (4+: debug)")
    flag("version", action="version", version=f"leadergroup-elector {__version__}", help="print the version")
    flag(
        "exit-on-lost",
        dest="exit_on_lost",
        action="store_true",
        help="exit 0 when leadership is lost, as client-go's example does (default: rejoin the election)",
    )
    if mode == "run":
        flag(
            "grace-period",
            metavar="DURATION",
            help="SIGTERM-to-SIGKILL delay for CMD (default lease duration - renew deadline)",
        )
    if mode == "sidecar":
        flag(
            "http-address",
            metavar="HOST:PORT",
            default=DEFAULT_HTTP_ADDRESS,
            help="where to serve /leader and /healthz (default :8080)",
        )
    return parser


def _duration(label: str, text: str) -> float:
    try:
        return parse_duration(text)
    except InvalidDurationError as error:
        raise UsageError(f"{label}: {error}") from None


def _timing(flags: argparse.Namespace, env: Mapping[str, str]) -> ElectionTiming:
    def pick(flag_name: str, env_name: str, default: int) -> float:
        flag_value: str | None = getattr(flags, flag_name.replace("-", "_"))
        if flag_value is not None:
            return _duration(f"-{flag_name}", flag_value)
        if env.get(env_name):
            return _duration(f"${env_name}", env[env_name])
        return float(default)

    lease = pick("lease-duration", constants.ENV_LEASE_DURATION, constants.DEFAULT_LEASE_DURATION)
    renew = pick("renew-deadline", constants.ENV_RENEW_DEADLINE, constants.DEFAULT_RENEW_DEADLINE)
    retry = pick("retry-period", constants.ENV_RETRY_PERIOD, constants.DEFAULT_RETRY_PERIOD)
    try:
        return ElectionTiming(lease, renew, retry)
    except InvalidTimingError as error:
        raise UsageError(f"invalid election timing: {error}") from None


def default_identity(env: Mapping[str, str]) -> str:
    """``$POD_NAME``, else the host name with a random suffix (client-go's example uses a random UUID)."""
    return env.get(constants.ENV_POD_NAME) or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def parse_args(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ElectorOptions:
    """Options from the command line and the environment.

    Raises:
        UsageError: bad flags, durations or timings.
        SystemExit: ``-h`` was asked for (status 0).
    """
    env = os.environ if env is None else env
    args = list(argv)
    mode: Mode = "elect"
    if args and args[0] in MODES:
        mode = "run" if args[0] == "run" else "sidecar"
        args = args[1:]
    command: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, command = args[:split], args[split + 1 :]
    flags = _parser(mode).parse_args(args)
    if mode == "run" and not command:
        raise UsageError("run needs a command: leadergroup-elector run [FLAGS] -- CMD [ARGS...]")
    if mode != "run" and command:
        raise UsageError(f"unexpected arguments after --: {' '.join(command)} (did you mean 'run'?)")
    lease_name = flags.lease_name or env.get(constants.ENV_LEASE_NAME, "")
    if not lease_name:
        raise UsageError("unable to get lease lock resource name (pass -lease-lock-name or set $LEASE_NAME)")
    namespace = (
        flags.lease_namespace
        or env.get(constants.ENV_LEASE_NAMESPACE)
        or env.get(constants.ENV_POD_NAMESPACE)
        or None
    )
    identity = flags.identity if flags.identity is not None else default_identity(env)
    if not identity:
        raise UsageError("the holder identity (-id) must not be empty")
    grace: float | None = None
    if mode == "run" and flags.grace_period is not None:
        grace = _duration("-grace-period", flags.grace_period)
        if grace < 0:
            raise UsageError("-grace-period must not be negative")
    return ElectorOptions(
        mode=mode,
        identity=identity,
        lease_name=lease_name,
        lease_namespace=namespace,
        kubeconfig=flags.kubeconfig,
        timing=_timing(flags, env),
        leading_log=Path(flags.leading_log) if flags.leading_log else None,
        http_address=getattr(flags, "http_address", DEFAULT_HTTP_ADDRESS),
        grace_period=grace,
        command=command,
        verbosity=flags.verbosity,
        rejoin=not flags.exit_on_lost,
    )


def parse_http_address(address: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[::1]:PORT`` → (host, port).

    Raises:
        UsageError: not an address.
    """
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"-http-address: expected HOST:PORT or :PORT, got {address!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - a sidecar serves the pod's network, as Go's ":8080"
    return host, int(port_text)

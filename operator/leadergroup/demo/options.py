"""Command line of ``leadergroup demo``: replicas, timings, output mode, the cluster to use."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from leadergroup import constants
from leadergroup.elector.timing import ElectionTiming, InvalidTimingError, validate_timing

MAX_REPLICAS = 20  # each replica is a local Python process


@dataclass(frozen=True)
class Timings:
    """The election timings of the demo's group, in whole seconds (the LeaderGroup stores integers)."""

    lease_duration: int = constants.DEFAULT_LEASE_DURATION
    renew_deadline: int = constants.DEFAULT_RENEW_DEADLINE
    retry_period: int = constants.DEFAULT_RETRY_PERIOD

    @property
    def election(self) -> ElectionTiming:
        """The same timings as the elector uses them (its ``max_poll_interval`` is the 2.2·RP bound)."""
        return ElectionTiming(self.lease_duration, self.renew_deadline, self.retry_period)

    @property
    def expiry_bound(self) -> float:
        """Longest takeover after the last renewal a candidate saw: LD, then its next try (LD + 2.2·RP)."""
        return self.lease_duration + self.election.max_poll_interval

    @property
    def crash_bound(self) -> float:
        """Longest crash failover measured from the kill: LD + 4.4·RP.

        Candidates judge expiry from when *they* saw the record change, and a candidate may see the
        leader's last renewal up to 2.2·RP after it was written, i.e. after the crash; LD + 2.2·RP holds
        from that moment, not from the kill.
        """
        return self.expiry_bound + self.election.max_poll_interval

    def describe(self) -> str:
        """``15/10/2``."""
        return f"{self.lease_duration}/{self.renew_deadline}/{self.retry_period}"


def parse_timings(text: str) -> Timings:
    """``LD/RD/RP`` in whole seconds, checked against client-go's rules.

    Raises:
        ValueError: not three whole numbers, or they break ``LD > RD > 1.2·RP``, all >= 1.
    """
    parts = text.split("/")
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(
            f"expected LEASE/RENEW/RETRY in whole seconds, e.g. 15/10/2, got {text!r}",
        )
    lease, renew, retry = (int(part) for part in parts)
    try:
        validate_timing(lease, renew, retry)
    except InvalidTimingError as error:
        raise ValueError(f"{error}; client-go requires LD > RD > 1.2 x RP, all at least 1s") from None
    return Timings(lease, renew, retry)


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for."""

    replicas: int = constants.DEFAULT_REPLICAS
    timings: Timings = Timings()
    keep_running: bool = False
    kubeconfig: Path | None = None
    plain: bool = False
    json_summary: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    """The ``leadergroup demo`` command line."""
    parser = argparse.ArgumentParser(
        prog="leadergroup demo",
        description=(
            "See a LeaderGroup work in under a minute: an emulated API server on 127.0.0.1 (or your "
            "cluster with --kubeconfig), the real operator, one real elector process per pod; then the "
            "leader crashes and another takes over."
        ),
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=constants.DEFAULT_REPLICAS,
        metavar="N",
        help=f"candidates competing for the Lease, 2 to {MAX_REPLICAS} (default: %(default)s)",
    )
    parser.add_argument(
        "--timings",
        default=Timings().describe(),
        metavar="LD/RD/RP",
        help="lease duration / renew deadline / retry period in seconds (default: %(default)s, "
        "client-go's defaults; a crash failover takes between LD - RP and LD + 4.4 x RP)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="keep the live view up after the failover, until Ctrl-C"
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="PATH",
        help="run against this cluster instead (in a fresh namespace, deleted afterwards; no nodes needed)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="line-oriented output without colours or cursor movement (the default when not a terminal)",
    )
    parser.add_argument("--json-summary", type=Path, metavar="PATH", help="also write the summary as JSON")
    return parser


def parse_args(argv: Sequence[str]) -> DemoOptions:
    """Options from the command line; bad values exit with status 2 and a one-line reason."""
    parser = build_parser()
    flags = parser.parse_args(list(argv))
    if not 2 <= flags.replicas <= MAX_REPLICAS:
        parser.error(f"--replicas must be between 2 and {MAX_REPLICAS}: a failover needs a second candidate")
    try:
        timings = parse_timings(flags.timings)
    except ValueError as error:
        parser.error(f"--timings: {error}")
    kubeconfig: Path | None = flags.kubeconfig
    if kubeconfig is not None and not kubeconfig.is_file():
        parser.error(f"--kubeconfig: no such file: {kubeconfig}")
    return DemoOptions(
        replicas=flags.replicas,
        timings=timings,
        keep_running=flags.keep_running,
        kubeconfig=kubeconfig.resolve() if kubeconfig else None,
        plain=flags.plain or not sys.stdout.isatty(),
        json_summary=flags.json_summary,
    )

"""Failover time of ``leadergroup.elector``: graceful (release on SIGTERM) and crash (no release).

Each round runs two electors on their own Lease: A leads, B follows and has seen A; then A is stopped
(graceful: ``stop()`` releases the Lease, as on SIGTERM) or dies (crash: its task is cancelled without
release, as on SIGKILL: nothing renews the Lease any more), at a random point of B's polling cycle.
The failover time is from that moment to B's ``on_started_leading``.

Rounds run concurrently, each on its own Lease, in one process (electors are asyncio tasks with their own
HTTP sessions), against the in-process API emulator by default or a real cluster (``--kubeconfig``).

Then the case "holder pod deleted" (bench/holder_deleted.py) runs at the first timing, under the real
operator: its fast failover (the Lease released when the holder's pod is gone) against plain lease expiry,
side by side; the target is at least 5x faster at the default timing.

    python bench/failover.py                    # 20 rounds at 15/10/2 and 60/15/5 (about 80 s)
    python bench/failover.py --timings 3/2/1 --rounds 5
    python bench/failover.py --quick --output /tmp/failover.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*` when run as a script

from bench import holder_deleted
from leadergroup.elector import (
    ElectionTiming,
    KubeLeaseBackend,
    LeaderElector,
    LeadershipContext,
    LeaseLock,
)
from leadergroup.kube import KubeClient

RESULTS = Path(__file__).resolve().parent / "results" / "failover.json"
HOLDER_DELETED_TARGET = 5.0
SCENARIOS = ("graceful", "crash")
DEFAULT_TIMINGS = ("15/10/2", "60/15/5")


def parse_timing(text: str) -> ElectionTiming:
    """``LD/RD/RP`` in seconds, e.g. ``15/10/2``."""
    try:
        lease, renew, retry = (float(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LD/RD/RP in seconds, e.g. 15/10/2; got {text!r}"
        ) from None
    try:
        return ElectionTiming(lease, renew, retry)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def summarize(timing: ElectionTiming, scenario: str, samples: list[float]) -> dict[str, Any]:
    """One row of the report: the samples and their median, p95 and range, with the protocol's bounds."""
    low, high = expected_range(timing, scenario)
    return {
        "timing": {
            "lease_duration": timing.lease_duration,
            "renew_deadline": timing.renew_deadline,
            "retry_period": timing.retry_period,
        },
        "scenario": scenario,
        "rounds": len(samples),
        "median": round(statistics.median(samples), 3),
        "p95": round(percentile(samples, 0.95), 3),
        "min": min(samples),
        "max": max(samples),
        "expected": {"low": round(low, 3), "high": round(high, 3)},
        "samples": samples,
    }


def expected_range(timing: ElectionTiming, scenario: str) -> tuple[float, float]:
    """What the protocol allows, measured from the release or the crash.

    Graceful: the follower's next poll (< 2.2 RP). Crash: LD after the last change the follower observed,
    then its next poll; it observes changes only when it polls (every RP to 2.2 RP), so that change is
    up to one poll interval older than the crash: LD - 2.2 RP to LD + 2 x 2.2 RP.
    """
    jittered_poll = timing.retry_period * 2.2
    if scenario in ("graceful", "holder-deleted, fast failover"):
        # The operator's release is a graceful release on the dead holder's behalf.
        return 0.0, jittered_poll
    return timing.lease_duration - jittered_poll, timing.lease_duration + 2 * jittered_poll


async def one_round(
    make_client: Callable[[], KubeClient],
    namespace: str,
    lease: str,
    timing: ElectionTiming,
    scenario: str,
    rng: random.Random,
) -> float:
    """One failover; returns seconds from A's stop/crash to B leading."""
    clients = [make_client(), make_client()]
    a_leads, b_saw_a, b_leads = asyncio.Event(), asyncio.Event(), asyncio.Event()
    b_started_at: list[float] = []

    async def a_work(ctx: LeadershipContext) -> None:
        a_leads.set()
        await ctx.wait_ended()

    async def b_work(ctx: LeadershipContext) -> None:
        b_started_at.append(time.monotonic())
        b_leads.set()
        await ctx.wait_ended()

    a = LeaderElector(
        LeaseLock(KubeLeaseBackend(clients[0]), namespace, lease, f"{lease}-a"),
        timing,
        on_started_leading=a_work,
        release_on_cancel=scenario == "graceful",
    )
    b = LeaderElector(
        LeaseLock(KubeLeaseBackend(clients[1]), namespace, lease, f"{lease}-b"),
        timing,
        on_started_leading=b_work,
        on_new_leader=lambda holder: b_saw_a.set() if holder == a.identity else None,
        rng=rng,
    )
    a_task = asyncio.create_task(a.run())
    b_task: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(a_leads.wait(), timeout=timing.lease_duration * 3 + 30)
        b_task = asyncio.create_task(b.run())
        await asyncio.wait_for(b_saw_a.wait(), timeout=timing.lease_duration * 3 + 30)
        # B in steady state, and the failure at a random phase of its polling.
        await asyncio.sleep(rng.uniform(2.2, 4.4) * timing.retry_period)
        failed_at = time.monotonic()
        if scenario == "graceful":
            a.stop()
        else:
            a_task.cancel()
        await asyncio.wait_for(b_leads.wait(), timeout=timing.lease_duration + 4 * timing.retry_period + 30)
        return b_started_at[0] - failed_at
    finally:
        a.stop()
        b.stop()
        for task in (a_task, b_task):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (a_task, b_task) if t is not None), return_exceptions=True)
        for client in clients:
            await client.close()


async def run_bench(
    make_client: Callable[[], KubeClient],
    namespace: str,
    timings: list[ElectionTiming],
    rounds: int,
    seed: int,
) -> list[dict[str, Any]]:
    """All rounds of all (timing, scenario) pairs, concurrently; one summary per pair."""
    rng = random.Random(seed)
    jobs: dict[tuple[int, str], list[asyncio.Task[float]]] = {}
    for index, timing in enumerate(timings):
        for scenario in SCENARIOS:
            jobs[(index, scenario)] = [
                asyncio.create_task(
                    one_round(
                        make_client,
                        namespace,
                        f"bench-{index}-{scenario}-{n}-{seed}",
                        timing,
                        scenario,
                        random.Random(rng.random()),
                    )
                )
                for n in range(rounds)
            ]
    summaries = []
    for (index, scenario), tasks in jobs.items():
        samples = [round(sample, 3) for sample in await asyncio.gather(*tasks)]
        summaries.append(summarize(timings[index], scenario, samples))
    return summaries


def table(summaries: list[dict[str, Any]]) -> str:
    """A plain-text table of the summaries."""
    lines = [
        f"{'timing LD/RD/RP':<17}{'scenario':<31}{'rounds':>7}{'median':>9}{'p95':>9}{'max':>9}"
        "  protocol bound",
    ]
    for summary in summaries:
        timing = summary["timing"]
        label = f"{timing['lease_duration']:g}/{timing['renew_deadline']:g}/{timing['retry_period']:g} s"
        expected = summary["expected"]
        lines.append(
            f"{label:<17}{summary['scenario']:<31}{summary['rounds']:>7}{summary['median']:>8.2f}s"
            f"{summary['p95']:>8.2f}s{summary['max']:>8.2f}s  {expected['low']:.1f}-{expected['high']:.1f} s"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds per timing and scenario (default 20)")
    parser.add_argument(
        "--timings",
        nargs="+",
        type=parse_timing,
        default=None,
        metavar="LD/RD/RP",
        help="timing profiles in seconds (default 15/10/2 60/15/5)",
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds at 3/2/1 (smoke test)")
    parser.add_argument("--kubeconfig", help="benchmark a real cluster instead of the emulator")
    parser.add_argument("--namespace", help="namespace of the Leases (default: the kubeconfig's)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time-based)")
    parser.add_argument(
        "--no-holder-deleted",
        dest="holder_deleted",
        action="store_false",
        help="skip the 'holder pod deleted' case (fast failover vs lease expiry, under the operator)",
    )
    args = parser.parse_args(argv)
    timings: list[ElectionTiming] = args.timings or [parse_timing(t) for t in DEFAULT_TIMINGS]
    rounds = args.rounds
    if args.quick:
        timings, rounds = [parse_timing("3/2/1")], 3
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000

    with ExitStack() as stack:
        if args.kubeconfig:
            backend, kubeconfig = f"kubeconfig:{args.kubeconfig}", args.kubeconfig
        else:
            from leadergroup.sim import Emulator

            emulator = stack.enter_context(Emulator())
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="failover-bench-")))
            kubeconfig = str(emulator.write_kubeconfig(workdir / "kubeconfig"))
            backend = "emulator"
        namespace = args.namespace or KubeClient.auto(kubeconfig).namespace
        print(
            f"Failover benchmark on {backend}, namespace {namespace}: {rounds} rounds per timing and "
            f"scenario, all rounds concurrently on separate Leases (seed {seed})",
            file=sys.stderr,
        )
        started = time.monotonic()
        summaries = asyncio.run(
            run_bench(lambda: KubeClient.auto(kubeconfig), namespace, timings, rounds, seed)
        )
    speedup = None
    if args.holder_deleted:
        print(
            f"Holder pod deleted, at the first timing, under the operator: "
            f"fast failover vs lease expiry, {rounds} rounds each, concurrently",
            file=sys.stderr,
        )
        timing = timings[0]
        samples = holder_deleted.measure(
            timing, rounds, seed, Path(args.kubeconfig) if args.kubeconfig else None
        )
        summaries += [summarize(timing, scenario, values) for scenario, values in samples.items()]
        speedup = round(holder_deleted.speedup(samples), 2)
    wall = time.monotonic() - started

    print(table(summaries))
    if speedup is not None:
        verdict = "met" if speedup >= HOLDER_DELETED_TARGET else "NOT met"
        print(
            f"Holder pod deleted: fast failover is {speedup:g}x faster than lease expiry "
            f"(target >= {HOLDER_DELETED_TARGET:g}x: {verdict})"
        )
    report = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": backend,
        "concurrent": True,
        "note": "rounds run concurrently, each on its own Lease; electors are asyncio tasks in one process",
        "seed": seed,
        "wall_seconds": round(wall, 1),
        "holder_deleted_speedup": speedup,
        "results": summaries,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {args.output} ({wall:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

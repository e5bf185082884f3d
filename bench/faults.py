"""Network faults on a real control plane: how long until the electors and the operator serve again.

Per scenario, ``--rounds`` rounds, ours and the blog's client-go program side by side where it applies:

- ``elector-cut``: three electors of one kind on a Lease, each reaching the API server through a
  :class:`FaultProxy` of its own; once the standbys follow the leader, the leader's proxy freezes (nothing
  moves, nothing is closed: a partition) for twice the lease duration. Measured from the cut: until the
  old leader's term ended (its leading log's "stopped"), until a standby leads (its "started"), and how
  long both led at once (the old leader's end minus the standby's start, when positive). ``ours`` is
  ``leadergroup-elector``, ``client-go`` the blog's program (tests/elector/clientgo). Rounds run
  concurrently, each on a Lease and with proxies of its own.
- ``operator-silent``: the operator reaches the API server through a proxy; a LeaderGroup has two of our
  electors; every connection the operator has open is silenced for ever (no FIN, no RST), new ones work.
  At once the leader gets SIGTERM (it releases, the standby takes over) and the group's Deployment is
  deleted. Measured from the silence: until status.holder names the new leader, until a Deployment (a new
  uid) is back. The blog's YAML has no operator: "—". Rounds one after another, one operator throughout.
- ``apiserver-restart``: kube-apiserver of the bench's own control plane gets SIGTERM and is started again
  ``--down`` seconds later (same port and flags; ``--shutdown-watch-termination-grace-period=2s`` so it
  ends its watches and exits at once, as a restart should). Meanwhile a LeaderGroup with three of our
  electors under the operator, and three client-go electors on a Lease of their own (the blog's setup).
  Measured from the moment the restarted server answers /readyz: until an elector of each kind starts a
  term (negative if it did before /readyz), and until a holder the bench writes into a second group's
  Lease at that moment shows in that group's status (the operator follows holder changes again). Rounds
  one after another, one restart each.

A measure not reached within ``WITHIN`` seconds is recorded as null and shown as "> 120" in the max.

    python bench/faults.py                               # starts the test control plane itself, ~15 min
    python bench/faults.py --rounds 1 --timings 3/2/1    # quicker
    python bench/faults.py --kubeconfig KC --scenarios elector-cut operator-silent   # a cluster of yours
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.common import environment, open_cluster, percentile, print_table, write_results
from bench.failover_real import parse_timing
from bench.faults_scenarios import WITHIN, apiserver_restart, elector_cut, operator_silent

SCENARIOS = ("elector-cut", "operator-silent", "apiserver-restart")
KINDS = ("ours", "client-go")
APISERVER_ARGS = ["--shutdown-watch-termination-grace-period=2s"]
# Per scenario, what is measured (the key in each round's result) and how the table names it.
MEASURES = {
    "elector-cut": (
        ("stopped", "cut → old leader's term ended"),
        ("standby_leads", "cut → a standby leads"),
        ("overlap", "both led (old's end minus standby's start)"),
    ),
    "operator-silent": (
        ("holder_in_status", "silence → new holder in status.holder"),
        ("deployment_restored", "silence → deleted Deployment back"),
    ),
    "apiserver-restart": (
        ("leader_again", "server ready → an elector leads"),
        ("status_follows", "server ready → a new holder in status"),
    ),
}


# ------------------------------------------------------------------------------------------------- report


def summarize(scenario: str, kind: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """p50 and max of each measure of one scenario and kind over its rounds (None: not reached)."""
    measures = {}
    for key, label in MEASURES[scenario]:
        samples = [r.get(key) for r in results]
        if not any(key in r for r in results):
            continue  # not measured for this kind (client-go has no operator)
        reached = [sample for sample in samples if sample is not None]
        measures[key] = {
            "label": label,
            "p50": percentile(reached, 0.5),
            "max": max(reached) if len(reached) == len(samples) else None,
            "not_reached": len(samples) - len(reached),
            "samples": samples,
        }
    return {
        "scenario": scenario,
        "kind": kind,
        "rounds": len(results),
        "measures": measures,
        "results": results,
    }


def table_rows(summaries: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per scenario and measure: ours p50 and max, client-go p50 and max ("—": not applicable)."""
    rows = []
    for scenario in dict.fromkeys(s["scenario"] for s in summaries):
        by_kind = {s["kind"]: s for s in summaries if s["scenario"] == scenario}
        rounds = max(s["rounds"] for s in by_kind.values())
        for key, label in MEASURES[scenario]:
            cells: list[Any] = [scenario, label, rounds]
            for kind in KINDS:
                measure = by_kind.get(kind, {}).get("measures", {}).get(key)
                if measure is None:
                    cells += ["—", "—"]
                else:
                    late = f"> {WITHIN:.0f}" if measure["not_reached"] else None
                    cells += [measure["p50"], late or measure["max"]]
            rows.append(cells)
    return rows


@contextlib.contextmanager
def control_plane(kubeconfig: Path | None, workdir: Path) -> Iterator[tuple[Path, Any]]:
    """The user's cluster (no plane to restart), or the test control plane started here, CRDs installed."""
    from tests.controlplane.build import CLIENTGO_ELECTOR, ensure_built

    ensure_built(CLIENTGO_ELECTOR)
    if kubeconfig is not None:
        yield kubeconfig, None
        return
    from tests.controlplane.cluster import control_plane as started
    from tests.support.cluster import RealBackend

    # The audit log (metadata only) tells afterwards when each client came back after a restart.
    with started(
        workdir / "controlplane", audit=True, audit_lease_bodies=False, apiserver_args=APISERVER_ARGS
    ) as plane:
        RealBackend(plane.kubeconfig, str(plane.kubectl), plane).install_crds()
        yield plane.kubeconfig, plane


async def run(options: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    summaries = []
    with (
        control_plane(options.kubeconfig, workdir) as (kubeconfig, plane),
        open_cluster(workdir, kubeconfig=kubeconfig) as cluster,
    ):
        async with cluster.client() as client:
            for scenario in options.scenarios:
                if scenario == "elector-cut":
                    by_kind = {
                        kind: await elector_cut(kind, cluster, options.rounds, options.timing, workdir)
                        for kind in options.kinds
                    }
                elif scenario == "operator-silent":
                    if "ours" not in options.kinds:
                        continue
                    results = await operator_silent(cluster, client, options.rounds, options.timing, workdir)
                    by_kind = {"ours": results}
                else:
                    by_kind = await apiserver_restart(
                        plane,
                        cluster,
                        client,
                        options.kinds,
                        options.rounds,
                        options.timing,
                        options.down,
                        workdir,
                    )
                for kind, results in by_kind.items():
                    summaries.append(summarize(scenario, kind, results))
                    print(f"{scenario:18} {kind:10} {results}", file=sys.stderr, flush=True)
    return summaries


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubeconfig", type=Path, help="a cluster of yours (default: start the test control plane)"
    )
    parser.add_argument(
        "--timings", dest="timing", type=parse_timing, default=(15, 10, 2), metavar="LD/RD/RP"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=SCENARIOS,
        help="default: all (with --kubeconfig: all but apiserver-restart)",
    )
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--down", type=float, default=15.0, help="seconds the API server is down")
    parser.add_argument("--quick", action="store_true", help="one round at 3/2/1 s (a smoke run)")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/)")
    parser.add_argument("--workdir", type=Path, help="keep the processes' logs there (default: a temp dir)")
    options = parser.parse_args(argv)
    if options.quick:
        options.timing, options.rounds = (3, 2, 1), 1
    if options.scenarios is None:
        own_plane = options.kubeconfig is None
        options.scenarios = [s for s in SCENARIOS if own_plane or s != "apiserver-restart"]
    elif options.kubeconfig is not None and "apiserver-restart" in options.scenarios:
        parser.error("apiserver-restart stops the API server: only on the control plane the bench starts")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        summaries = asyncio.run(run(options, options.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="lg-faults-") as directory:
            summaries = asyncio.run(run(options, Path(directory)))
    lease, renew, retry = options.timing
    print_table(
        f"Serving again after network faults (seconds; electors at {lease}/{renew}/{retry} s, "
        f"API server down {options.down:.0f} s, {options.rounds} rounds)",
        ["scenario", "from → until", "rounds", "ours p50", "ours max", "client-go p50", "client-go max"],
        table_rows(summaries),
    )
    path = write_results(
        "faults",
        {
            "timing": {"leaseDuration": lease, "renewDeadline": renew, "retryPeriod": retry},
            "apiserver_down_seconds": options.down,
            "apiserver_args": APISERVER_ARGS,
            "within_seconds": WITHIN,
            "environment": environment(),
            "results": summaries,
        },
        options.output,
    )
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The footprint of one elector process, ours in each mode next to client-go's, and of the idle operator.

On a real API server (the test control plane, started here, or ``--kubeconfig``), every kind runs at once,
a leader and a standby on a Lease of their own, with client-go's timings (15/10/2 s): ``client-go`` (the
blog's program, tests/elector/clientgo), and ``leadergroup-elector`` alone (the blog's behaviour), as a
``sidecar`` (serving /leader) and as ``run -- sleep`` (only the elector's process is counted, not what it
runs). Once every Lease has a leader, ``--seconds`` of steady state; then each process's resident memory
(VmRSS), its peak (VmHWM), its threads and its CPU per second over the window. The operator
(``leadergroup-operator --standalone``) runs through the same window with no group.

    python bench/footprint.py                  # starts the test control plane (needs Go)
    python bench/footprint.py --kubeconfig KC  # a cluster of yours, CRDs installed
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.common import (
    OperatorRun,
    cpu_seconds,
    environment,
    fmt,
    memory_mb,
    open_cluster,
    options_record,
    print_table,
    write_results,
)
from bench.failover_candidates import Candidate, start_candidate, until
from bench.failover_real import real_cluster

from leadergroup.procutil import free_port

CLIENT_GO_TIMING = (15, 10, 2)
# kind -> (the candidate kind of failover_candidates, our elector's mode, the command `run` runs)
ELECTORS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "client-go": ("client-go", (), ()),
    "leadergroup-elector": ("ours", (), ()),
    "leadergroup-elector sidecar": ("ours", ("sidecar",), ()),
    "leadergroup-elector run": ("ours", ("run",), ("sleep", "3600")),
}


def start_pair(kind: str, namespace: str, kubeconfig: Path, workdir: Path) -> list[Candidate]:
    """A leader-to-be and a standby of ``kind`` on the Lease ``footprint-<n>``."""
    candidate_kind, mode, command = ELECTORS[kind]
    lease = f"footprint-{list(ELECTORS).index(kind)}"
    pair = []
    for role in ("a", "b"):
        extra = (*mode, f"-http-address=127.0.0.1:{free_port()}") if mode == ("sidecar",) else mode
        pair.append(
            start_candidate(
                candidate_kind,
                f"{lease}-{role}",
                lease,
                namespace,
                kubeconfig,
                CLIENT_GO_TIMING,
                workdir,
                mode=extra,
                command=command,
            )
        )
    return pair


def process_row(kind: str, role: str, pid: int, cpu_before: float, seconds: float) -> dict[str, Any]:
    """One process's memory, threads and CPU per second since ``cpu_before``."""
    memory = memory_mb(pid)
    return {
        "process": kind,
        "role": role,
        "rss_mb": memory["rss_mb"],
        "peak_rss_mb": memory["peak_rss_mb"],
        "threads": memory["threads"],
        "cpu_ms_per_s": round(1000 * (cpu_seconds(pid) - cpu_before) / seconds, 3),
    }


async def measure(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with (
        real_cluster(options.kubeconfig, workdir, 0) as kubeconfig,
        open_cluster(workdir, kubeconfig=kubeconfig) as cluster,
    ):
        operator = OperatorRun(cluster, workdir / "operator.log").start()
        pairs = {kind: start_pair(kind, cluster.namespace, kubeconfig, workdir) for kind in ELECTORS}
        try:
            everyone = [candidate for pair in pairs.values() for candidate in pair]
            await until(lambda: all(any(c.leads() for c in pair) for pair in pairs.values()), 120, "leaders")
            await until(lambda: all(c.started_running() for c in everyone), 60, "standbys logging")
            pids = {c.identity: c.process.pid for c in everyone} | {"operator": operator.pid}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
            await asyncio.sleep(options.seconds)  # the window measured, not an assertion
            seconds = time.monotonic() - started
            for candidate in everyone:
                assert candidate.process.poll() is None, f"{candidate.identity} exited: {candidate.output}"
            rows = [
                process_row(
                    kind, "leader" if c.leads() else "standby", c.process.pid, before[c.identity], seconds
                )
                for kind, pair in pairs.items()
                for c in pair
            ]
            rows.append(
                process_row("leadergroup-operator", "no group", operator.pid, before["operator"], seconds)
            )
        finally:
            for candidate in (c for pair in pairs.values() for c in pair):
                candidate.kill()
            operator.stop()
    return {
        "benchmark": "footprint",
        "environment": environment(),
        "options": options_record(options),
        "backend": "real",
        "window_seconds": round(seconds, 1),
        "runs": rows,
    }


def report(rows: list[dict[str, Any]]) -> None:
    print_table(
        "Footprint: one process each, steady state (client-go timings 15/10/2 s)",
        ["process", "role", "RSS MB", "peak RSS MB", "threads", "CPU ms/s"],
        [
            [
                row["process"],
                row["role"],
                fmt(row["rss_mb"], 1),
                fmt(row["peak_rss_mb"], 1),
                str(row["threads"]),
                fmt(row["cpu_ms_per_s"], 2),
            ]
            for row in rows
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubeconfig", type=Path, help="a cluster of yours (default: start the test control plane)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="the steady window (default 60)")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/)")
    parser.add_argument("--workdir", type=Path, help="keep the processes' logs there (default: a temp dir)")
    options = parser.parse_args(argv)
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        payload = asyncio.run(measure(options, options.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="lg-footprint-") as directory:
            payload = asyncio.run(measure(options, Path(directory)))
    report(payload["runs"])
    print(f"Results: {write_results('footprint', payload, options.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

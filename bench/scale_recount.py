"""Recount a real-cluster scale run's API requests from the audit log files, after the fact.

``bench/scale.py`` counts requests while it runs. A run whose API server rotated its audit log in the
middle of a window (kube-apiserver does every 100 MB by default; the runs of 2026-12-02 before the reader
followed rotations) has those windows undercounted. This script reads every audit file of the folder
(rotated ones too, oldest first) and recounts, per run and per setup, the windows it can find again from
the run's JSON and the log itself:

- bring-up: from the first create in the run's namespace by the benchmark, for the convergence time plus
  ``--settle`` seconds;
- steady: from the benchmark's first Lease renewal (``update leases``) after bring-up, for the idle window's
  length.

    python bench/scale_recount.py bench/results/scale-real-20261202.json /tmp/.../controlplane

It prints the recounted figures and writes them into the JSON under ``recount`` (the original figures stay).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*` when run as a script

from bench.realcluster import AuditEntry, parse_entry, tally


def read_all(folder: Path) -> list[AuditEntry]:
    """Every completed request in the folder's audit files, rotated ones first."""
    files = [*sorted(folder.glob("audit-*.log")), folder / "audit.log"]
    entries = []
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as stream:
            entries.extend(entry for line in stream if (entry := parse_entry(line)) is not None)
    return sorted(entries, key=lambda entry: entry.time)


def windows(entries: list[AuditEntry], namespace: str, converge: float, settle: float, idle: float) -> Any:
    """The bring-up and steady windows of one setup in one namespace."""
    mine = [e for e in entries if e.namespace == namespace]
    first = next(e.time for e in mine if e.actor == "bench" and e.verb == "create")
    until = first + converge + settle
    renewal = next(
        e.time
        for e in mine
        if e.actor == "bench" and e.verb == "update" and e.resource == "leases" and e.time > until
    )
    return (first, until), (renewal, renewal + idle)


def recount(
    entries: list[AuditEntry], namespace: str, seconds: float, groups: int, opts: Any
) -> dict[str, Any]:
    """Bring-up and steady figures of one setup."""
    (start, until), (steady_start, steady_end) = windows(entries, namespace, seconds, opts.settle, opts.idle)
    bring_up = tally([e for e in entries if start <= e.time < until])
    operator = [
        e for e in entries if start <= e.time < until and e.actor == "operator" and e.namespace == namespace
    ]
    steady = tally([e for e in entries if steady_start <= e.time < steady_end])
    span = steady_end - steady_start
    return {
        "window": [start, until],
        "writes_per_group": round(bring_up["writes"] / groups, 2),
        "reads_per_group": round(bring_up["reads"] / groups, 2),
        "operator_writes_per_group": round(sum(e.is_write for e in operator) / groups, 2),
        "operator_reads_per_group": round(sum(e.is_read for e in operator) / groups, 2),
        "operator_write_by_verb_per_group": {
            verb: round(count / groups, 2)
            for verb, count in (bring_up["by_actor"].get("operator") or {}).get("write_by_verb", {}).items()
        },
        "steady_writes_per_second": round(steady["writes"] / span, 2),
        "steady_by_actor_writes_per_second": {
            actor: round(row["writes"] / span, 2) for actor, row in steady["by_actor"].items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the JSON bench/scale.py wrote")
    parser.add_argument("folder", type=Path, help="the control plane's folder (audit.log and rotated files)")
    options = parser.parse_args(argv)
    payload = json.loads(options.results.read_text())
    options.settle = float(payload["options"]["settle"])
    options.idle = float(payload["options"]["idle_seconds"])
    entries = read_all(options.folder)
    for run in payload["runs"]:
        groups = run["groups"]
        namespaces = sorted({e.namespace for e in entries if e.namespace.startswith("lgbench-")})
        # The operator's namespace is in the run; the baseline's is the next lgbench namespace created.
        ours = run["namespace"]
        # A run that timed out waited its whole timeout before the settle.
        waited = run["convergence"]["seconds"] or run["convergence"]["timeout_seconds"]
        run["recount"] = {"operator": recount(entries, ours, waited, groups, options)}
        base = run.get("baseline")
        if base:
            later = [n for n in namespaces if n != ours and _first(entries, n) > _first(entries, ours)]
            base_ns = min(later, key=lambda n: _first(entries, n))
            seconds = base["convergence"]["seconds"] or 0
            run["recount"]["baseline"] = {
                "namespace": base_ns,
                **recount(entries, base_ns, seconds, groups, options),
            }
        print(json.dumps({"groups": groups, **run["recount"]}, indent=2))
    options.results.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def _first(entries: list[AuditEntry], namespace: str) -> float:
    return next(e.time for e in entries if e.namespace == namespace)


if __name__ == "__main__":
    sys.exit(main())

"""The demo's result: what the last lines say and ``--json-summary`` writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadergroup.demo.options import Timings


@dataclass(frozen=True)
class Summary:
    """What the demo showed, for the last lines and ``--json-summary``."""

    backend: str
    namespace: str
    replicas: int
    timings: Timings
    children: tuple[str, ...]
    pods: tuple[str, ...]
    old_leader: str
    new_leader: str
    failover_seconds: float
    deleted_leader: str
    deletion_new_leader: str
    deletion_failover_seconds: float
    lease_transitions: int
    status_holder: str

    def lines(self) -> list[str]:
        """The human summary; ``Failover: N s`` is the line scripts look for."""
        bound = self.timings.crash_bound
        poll, deletion = self.timings.election.max_poll_interval, self.deletion_failover_seconds
        verdict = "within" if self.failover_seconds <= bound else "SLOWER than"
        return [
            "",
            "Summary",
            f"  Old leader: {self.old_leader} (crashed: SIGKILL, no release)",
            f"  New leader: {self.new_leader}",
            f"  Failover: {self.failover_seconds:.2f} s from the kill to a new holder in the Lease, "
            f"{verdict} the expected bound LD + 4.4·RP = {bound:.1f} s",
            f"            (and LD + 2.2·RP = {self.timings.expiry_bound:.1f} s after the last renewal seen)",
            f"  Pod deleted: {self.deleted_leader}; new leader {self.deletion_new_leader} after "
            f"{self.deletion_failover_seconds:.2f} s",
            f"            (a standby's next try after the release: at most 2.2·RP = {poll:.1f} s)",
            f"  Side by side: crash {self.failover_seconds:.2f} s, pod deletion {deletion:.2f} s",
            f"  Lease transitions: {self.lease_transitions}; LeaderGroup status holder: "
            f"{self.status_holder or '(none)'}",
            f"  Children: {', '.join(self.children)}",
            "  The operator made these from one object (the blog writes them by hand). A graceful stop",
            "  (SIGTERM) releases the Lease instead: the next leader takes over within 2.2·RP.",
        ]

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object."""
        return {
            "backend": self.backend,
            "namespace": self.namespace,
            "replicas": self.replicas,
            "timings": {
                "leaseDurationSeconds": self.timings.lease_duration,
                "renewDeadlineSeconds": self.timings.renew_deadline,
                "retryPeriodSeconds": self.timings.retry_period,
            },
            "children": list(self.children),
            "pods": list(self.pods),
            "oldLeader": self.old_leader,
            "newLeader": self.new_leader,
            "failoverSeconds": round(self.failover_seconds, 3),
            "boundSeconds": round(self.timings.crash_bound, 3),
            "expiryBoundSeconds": round(self.timings.expiry_bound, 3),
            "withinBound": self.failover_seconds <= self.timings.crash_bound,
            "podDeletion": {
                "oldLeader": self.deleted_leader,
                "newLeader": self.deletion_new_leader,
                "failoverSeconds": round(self.deletion_failover_seconds, 3),
            },
            "leaseTransitions": self.lease_transitions,
            "statusHolder": self.status_holder,
        }

"""The leader's network cut: electors, each behind its own FaultProxy, when the leader's proxy freezes.

The leader's connections are frozen (nothing moves, nothing is closed: a partition) for about twice the
lease duration, then thawed. Its command (``leadergroup-elector run -- CMD``) must stop before its renew
deadline has passed (plus the kill grace), a standby must take over, no two commands may ever run at once,
and once healed the old leader must rejoin as a follower: the new holder keeps the Lease, although the
renewal the old leader sent into the cut reaches the API server once the partition heals (seen in the real
server's audit log: answered 504, the client long gone; its stale resourceVersion would be refused too).
The same with the blog's client-go program as the standby, and as the cut-off leader (it exits then).

Each command records its own start and end (``start <t>`` / ``end <t>`` lines, the end from its SIGTERM
trap); overlap is judged from those timestamps and from the electors' leading logs, never by looking.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.controlplane.build import CLIENTGO_ELECTOR
from tests.elector.fleet import (
    LEASE_DURATION,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    TEST_TIMING,
    ElectorProcess,
    Fleet,
    Interval,
    overlaps,
    read_lease,
)
from tests.support import eventually
from tests.support.cluster import Cluster
from tests.support.faultproxy import FaultProxy

from leadergroup.kube import KubeClient

# The run mode's default grace period: SIGKILL at the renew deadline + (lease duration - renew deadline).
KILL_GRACE = LEASE_DURATION - RENEW_DEADLINE
# From the renew deadline to the command's "end" line: the elector's timer fires and signals the process
# group, sh runs its trap once its 50 ms sleep is killed, and date(1) writes the line. A few tens of
# milliseconds when idle; 0.5 s covers a busy 2-core CI machine running two workers.
MARGIN = 0.5
# A standby takes over once the Lease looks unchanged for the lease duration on its own clock: it first saw
# the last renewal within a jittered poll (< 2.2 RP) of it, and notices expiry at a poll (< 2.2 RP) later.
TAKEOVER = LEASE_DURATION + 4.4 * RETRY_PERIOD + 2.0
FREEZE = 2 * LEASE_DURATION
# A client-go leader gives up RP + RD after its last renewal (its renew deadline counts from the attempt
# after it): with 3/1.5/1 (as in tests/integration/test_clientgo_mixed.py) 0.5 s before the Lease expires.
GO_RENEW, GO_RETRY = 1.5, 1.0
GO_TIMING = ("-lease-duration=3s", "-renew-deadline=1500ms", "-retry-period=1s")
KLOG_TIME = re.compile(r"^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) ")

# Records when the command runs: "start <t>" first, "end <t>" when SIGTERM (sent to its process group,
# which kills the sleep too) ends it. Unix seconds, as the leading logs.
RECORDER = """\
log="$1"
trap 'echo "end $(date +%s.%N)" >> "$log"; exit 0' TERM
echo "start $(date +%s.%N)" >> "$log"
while :; do sleep 0.05; done
"""


class CutFleet:
    """A :class:`Fleet` whose every elector reaches the API server through a FaultProxy of its own."""

    def __init__(self, cluster: Cluster, workdir: Path) -> None:
        self.fleet = Fleet(cluster, workdir)
        self.workdir = workdir
        config = yaml.safe_load(cluster.kubeconfig.read_text())
        self.server = str(config["clusters"][0]["cluster"]["server"])
        self.proxies: dict[str, FaultProxy] = {}
        self.recorder = workdir / "recorder.sh"
        self.recorder.write_text(RECORDER)

    def _proxied(self, identity: str) -> Path:
        proxy = FaultProxy.in_front_of(self.server).start()
        self.proxies[identity] = proxy
        return proxy.kubeconfig_through(self.fleet.kubeconfig, self.workdir / f"kubeconfig-{identity}")

    def start(self, identity: str) -> ElectorProcess:
        """``leadergroup-elector run -- sh recorder.sh <its command log>`` behind its own proxy."""
        command = ["sh", str(self.recorder), str(self.command_log(identity))]
        return self.fleet.start(identity, mode="run", command=command, kubeconfig=self._proxied(identity))

    def start_clientgo(self, identity: str, timing: tuple[str, ...] = TEST_TIMING) -> ElectorProcess:
        """The blog's client-go program behind its own proxy; its term is its leading log's."""
        binary = CLIENTGO_ELECTOR.bin_dir() / "clientgo-elector"
        if not binary.is_file():
            pytest.skip(f"{binary} is not built (python -m tests.controlplane build)")
        return self.fleet.start_clientgo(identity, binary, timing, kubeconfig=self._proxied(identity))

    def command_log(self, identity: str) -> Path:
        return self.workdir / f"command-{identity}.log"

    def command_terms(self, elector: ElectorProcess) -> list[Interval]:
        """When the elector's command ran. Without an "end" line (killed before its trap was set, or
        still running), a term ends at the elector's next "stopped" (logged once the command is gone)."""
        path = self.command_log(elector.identity)
        lines = path.read_text().split("\n") if path.exists() else []
        records = [(word, float(t)) for word, t in (line.split() for line in lines if line.strip())]
        stops = [event["t"] for event in elector.events() if event["event"] == "stopped"]
        terms: list[Interval] = []
        for index, (word, start) in enumerate(records):
            if word != "start":
                continue
            following = records[index + 1] if index + 1 < len(records) else None
            if following is not None and following[0] == "end":
                terms.append(Interval(elector.identity, start, following[1], "stopped"))
            elif later := [t for t in stops if t >= start]:
                terms.append(Interval(elector.identity, start, later[0], "killed"))
            else:
                terms.append(Interval(elector.identity, start, time.time(), "running"))
        return terms

    def runs_command(self, elector: ElectorProcess) -> bool:
        terms = self.command_terms(elector)
        return bool(terms) and terms[-1].closed_by == "running"

    def terms(self) -> list[Interval]:
        """Every command term of our electors, and every leading-log term of client-go ones."""
        found: list[Interval] = []
        for elector in self.fleet.electors.values():
            if elector.program == "clientgo-elector":
                found += elector.intervals()
            else:
                found += self.command_terms(elector)
        return sorted(found, key=lambda term: term.start)

    def close(self) -> None:
        """Heal every proxy (so electors can release), stop the electors, then the proxies."""
        for proxy in self.proxies.values():
            proxy.thaw()
        self.fleet.close()
        for proxy in self.proxies.values():
            proxy.close()


@pytest.fixture
def cut(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[CutFleet]:
    electors = CutFleet(cluster, tmp_path)
    yield electors
    electors.close()
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        print(electors.fleet.logs())
        for elector in electors.fleet.electors.values():
            print(f"---- {elector.identity} command ----\n{electors.command_terms(elector)}")


async def lead_then_followers(
    cut: CutFleet, first: ElectorProcess, others: list[ElectorProcess], wait: float = 20
) -> None:
    """Wait until ``first`` leads and every other elector has seen it lead."""
    await eventually(first.is_leading, timeout=wait, message=f"{first.identity} leads")

    def seen() -> bool:
        return all(f"New leader elected: {first.identity}" in other.log() for other in others)

    await eventually(seen, timeout=wait, message=f"the others follow {first.identity}")


async def freeze_until_taken_over(cut: CutFleet, leader: ElectorProcess) -> tuple[float, ElectorProcess]:
    """Freeze the leader's proxy for about twice the lease duration, and at least until another elector
    leads; then thaw. Returns the moment of the freeze and the new leader."""
    proxy = cut.proxies[leader.identity]
    proxy.freeze()
    frozen_at = time.time()

    def new_leader() -> ElectorProcess | None:
        leading = [e for e in cut.fleet.leaders() if e is not leader]
        return leading[0] if leading else None

    successor = await eventually(new_leader, timeout=TAKEOVER, message=f"a leader after {leader.identity}")
    # Pacing, not an assertion: the partition lasts about twice the lease before it heals.
    await asyncio.sleep(max(0.0, frozen_at + FREEZE - time.time()))
    proxy.thaw()
    assert successor is not None
    return frozen_at, successor


async def assert_keeps_the_lease(
    client: KubeClient, cluster: Cluster, lease_name: str, identity: str
) -> None:
    """``identity`` renews the Lease twice more (each a condition, not a sleep) and holds it throughout."""
    lease = await read_lease(client, cluster.namespace, lease_name)
    assert lease is not None
    for _ in range(2):
        renewed = lease["spec"]["renewTime"]

        async def renewed_since(renewed: str = renewed) -> dict[str, Any] | None:
            now = await read_lease(client, cluster.namespace, lease_name)
            return now if now is not None and now["spec"]["renewTime"] != renewed else None

        lease = await eventually(renewed_since, timeout=3 * RETRY_PERIOD + 2, message=f"{identity} renews")
        assert lease is not None and lease["spec"]["holderIdentity"] == identity


async def assert_old_leader_follows(
    cut: CutFleet, client: KubeClient, cluster: Cluster, old: ElectorProcess, new: ElectorProcess
) -> None:
    """Once healed, the old leader sees the new holder and leaves the Lease to it, renewal after renewal."""
    await eventually(
        lambda: f"New leader elected: {new.identity}" in old.log(),
        timeout=LEASE_DURATION + 3 * RETRY_PERIOD,
        message=f"{old.identity} sees {new.identity} once healed",
    )
    # It has seen the new holder and polls every retry period from now on: it must not take the Lease back.
    await assert_keeps_the_lease(client, cluster, cut.fleet.lease_name, new.identity)
    assert old.process.poll() is None, f"{old.identity} rejoined the election"
    assert not old.is_leading() and old.started_count() == 1
    assert new.is_leading()


async def test_a_cut_off_leader_stops_its_command_and_a_standby_takes_over(
    cut: CutFleet, client: KubeClient, cluster: Cluster
) -> None:
    first = cut.start("e1")
    await eventually(lambda: cut.runs_command(first), timeout=20, message="e1's command runs")
    others = [cut.start("e2"), cut.start("e3")]
    await lead_then_followers(cut, first, others)
    before = await read_lease(client, cluster.namespace, cut.fleet.lease_name)
    assert before is not None and before["spec"]["holderIdentity"] == "e1"

    frozen_at, successor = await freeze_until_taken_over(cut, first)

    old_terms = cut.command_terms(first)
    assert len(old_terms) == 1 and old_terms[0].closed_by == "stopped", old_terms
    stopped_after = old_terms[0].end - frozen_at
    assert stopped_after <= RENEW_DEADLINE + KILL_GRACE + MARGIN, (
        f"stopped {stopped_after:.2f}s after the cut"
    )
    new_terms = cut.command_terms(successor)
    assert len(new_terms) == 1 and new_terms[0].start > old_terms[0].end

    await assert_old_leader_follows(cut, client, cluster, first, successor)
    lease = await read_lease(client, cluster.namespace, cut.fleet.lease_name)
    assert lease is not None
    # Exactly one handover: the renewal held back by the partition was refused (a stale resourceVersion).
    assert lease["spec"]["leaseTransitions"] == before["spec"]["leaseTransitions"] + 1
    assert overlaps(cut.terms()) == [], cut.terms()
    assert overlaps(cut.fleet.intervals()) == [], cut.fleet.intervals()
    print(
        f"command stopped {stopped_after:.2f}s after the cut; "
        f"{successor.identity}'s started {new_terms[0].start - frozen_at:.2f}s after it"
    )


async def test_a_cut_off_leader_of_ours_hands_over_to_client_go(
    cut: CutFleet, client: KubeClient, cluster: Cluster
) -> None:
    ours = cut.start("py")
    await eventually(lambda: cut.runs_command(ours), timeout=20, message="py's command runs")
    go = cut.start_clientgo("go")
    await eventually(lambda: "new leader elected: py" in go.log(), timeout=20, message="go follows py")
    before = await read_lease(client, cluster.namespace, cut.fleet.lease_name)
    assert before is not None

    frozen_at, successor = await freeze_until_taken_over(cut, ours)
    assert successor is go

    old_terms = cut.command_terms(ours)
    assert len(old_terms) == 1 and old_terms[0].closed_by == "stopped", old_terms
    stopped_after = old_terms[0].end - frozen_at
    assert stopped_after <= RENEW_DEADLINE + KILL_GRACE + MARGIN, (
        f"stopped {stopped_after:.2f}s after the cut"
    )
    (go_term,) = go.intervals()
    assert go_term.start > old_terms[0].end

    await assert_old_leader_follows(cut, client, cluster, ours, go)
    lease = await read_lease(client, cluster.namespace, cut.fleet.lease_name)
    assert lease is not None
    assert lease["spec"]["leaseTransitions"] == before["spec"]["leaseTransitions"] + 1
    assert overlaps(cut.terms()) == [], cut.terms()
    print(
        f"command stopped {stopped_after:.2f}s after the cut; "
        f"client-go started leading {go_term.start - frozen_at:.2f}s after it"
    )


def klog_times(log: str, message: str) -> list[float]:
    """Unix times of the klog lines (``I1208 02:35:54.262518 ...``, local time) that contain ``message``."""
    now = datetime.datetime.now().astimezone()
    times = []
    for line in log.splitlines():
        match = KLOG_TIME.match(line)
        if match and message in line:
            month, day, hour, minute, second, micro = map(int, match.groups())
            moment = now.replace(
                month=month, day=day, hour=hour, minute=minute, second=second, microsecond=micro
            )
            if moment > now + datetime.timedelta(days=1):  # logged last year: the test ran over New Year
                moment = moment.replace(year=now.year - 1)
            times.append(moment.timestamp())
    return times


async def test_a_cut_off_client_go_leader_gives_up_the_lease_before_ours_takes_it(
    cut: CutFleet, client: KubeClient, cluster: Cluster
) -> None:
    """The blog's client-go program as the cut-off leader: the Lease changes hands cleanly; it exits.

    Measured, and client-go's own doing (v0.37.2, ``ReleaseOnCancel: true`` as in the blog): when its renew
    deadline passes, client-go first tries to release the Lease (a read, then a write, under a fresh renew
    deadline) and only then cancels the context its leader work runs in. On a dead network the release
    waits out that second deadline: the work outlives the renew deadline by up to RD, past the Lease's
    expiry, so it may still run for a moment after the next leader (ours) has started. Ours never starts
    before client-go has given the Lease up; what client-go's work does after that is client-go's.
    """
    go = cut.start_clientgo("go", GO_TIMING)
    await eventually(go.is_leading, timeout=20, message="go leads")
    ours = cut.start("py")
    await eventually(lambda: "New leader elected: go" in ours.log(), timeout=20, message="py follows go")
    before = await read_lease(client, cluster.namespace, cut.fleet.lease_name)
    assert before is not None

    frozen_at, successor = await freeze_until_taken_over(cut, go)
    assert successor is ours
    await eventually(lambda: go.process.poll() is not None, timeout=5, message="go exits after its loss")
    assert go.process.returncode == 0, "the blog's program exits 0 when leadership is lost"

    (gave_up,) = klog_times(go.log(), "Failed to renew lease")
    assert gave_up - frozen_at <= GO_RETRY + GO_RENEW + MARGIN
    (our_term,) = cut.command_terms(ours)
    assert our_term.start > gave_up, "ours took the Lease before client-go gave it up"
    (go_term,) = go.intervals()
    assert go_term.end - gave_up <= GO_RENEW + MARGIN, "client-go's work ends once its release timed out"

    # Healed: what the partition held back (client-go's renewal and release) changes nothing.
    await assert_keeps_the_lease(client, cluster, cut.fleet.lease_name, ours.identity)
    lease = await read_lease(client, cluster.namespace, cut.fleet.lease_name)
    assert lease is not None
    assert lease["spec"]["leaseTransitions"] == before["spec"]["leaseTransitions"] + 1, "one handover"
    assert ours.started_count() == 1 and cut.runs_command(ours)
    print(
        f"client-go gave up the Lease {gave_up - frozen_at:.2f}s after the cut, ours started "
        f"{our_term.start - frozen_at:.2f}s after it, client-go's work ended {go_term.end - frozen_at:.2f}s "
        f"after it ({go_term.end - our_term.start:+.2f}s relative to ours)"
    )

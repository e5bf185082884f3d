"""The scale benchmark runs end to end on a few groups and writes JSON of the documented shape.

Not a timed test: the figures are only checked for presence and sanity, never against the targets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.cluster import RealBackend

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python bench/<script> ARGS`` from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def audit_log_of(real_backend: RealBackend) -> Path:
    """The audit log of our control plane, which the real-server benches count requests from (else skip)."""
    plane = real_backend.plane
    if plane is None or plane.audit_log is None or plane.kwok_bin_dir is None:
        pytest.skip("needs our control plane with its audit log and KWOK nodes")
    return plane.audit_log


@pytest.mark.timeout(90)
def test_scale_bench_quick_run(tmp_path: Path) -> None:
    output = tmp_path / "scale.json"
    completed = run_bench(
        "scale.py",
        "--groups",
        "5",
        "--idle-seconds",
        "2",
        "--lag-changes",
        "5",
        "--quick",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path),
        timeout=80,
    )
    operator_log = (tmp_path / "operator-5.log").read_text() if (tmp_path / "operator-5.log").exists() else ""
    assert completed.returncode == 0, f"{completed.stdout}\n{completed.stderr}\n{operator_log[-5000:]}"
    assert "| groups |" in completed.stdout and "Targets" in completed.stdout

    payload = json.loads(output.read_text())
    assert payload["bench"] == "scale"
    assert payload["environment"]["cpus"]
    (run,) = payload["runs"]
    assert run["groups"] == 5
    assert run["backend"] == "emulator"

    convergence = run["convergence"]
    assert not convergence["timed_out"], convergence
    assert convergence["converged"] == 5
    assert 0 < convergence["seconds"] < 60

    requests = run["requests"]
    # Every group's five children (and the default PodDisruptionBudget) were created by the operator.
    for kind in ("serviceaccounts", "roles", "rolebindings", "leases", "deployments"):
        assert requests["by_verb"][f"create {kind}"] == 5, requests["by_verb"]
    assert requests["writes_per_group"] >= requests["floor_writes_per_group"]
    assert requests["by_verb"].get("patch leadergroups/status", 0) >= 5

    idle = run["idle"]
    assert isinstance(idle["writes"], int)
    assert idle["cpu_seconds"] >= 0

    lag = run["lag"]
    assert lag["changes"] == 5
    assert lag["observed"] + lag["unobserved"] + lag["superseded"] >= 5
    assert lag["observed"] >= 1
    assert 0 <= lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"]

    assert run["memory"]["peak_rss_mb"] > 10
    metrics = {target["metric"] for target in run["targets"]}
    assert metrics == {
        "convergence s",
        "writes per new group",
        "idle writes",
        "status lag p99 ms",
        "peak RSS MB",
    }


@pytest.mark.timeout(120)
def test_failover_real_bench_quick_run(real_backend: RealBackend, tmp_path: Path) -> None:
    output = tmp_path / "failover-real.json"
    completed = run_bench(
        "failover_real.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--timings",
        "3/2/1",
        "--rounds",
        "2",
        "--kinds",
        "client-go",
        "ours+lg",
        "--failures",
        "crash",
        "--output",
        str(output),
        timeout=110,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(output.read_text())
    assert [(r["kind"], r["failure"]) for r in report["results"]] == [
        ("client-go", "crash"),
        ("ours+lg", "crash"),
    ]
    for row in report["results"]:
        assert row["rounds"] == 2 and len(row["samples"]) == 2
        assert row["changes_max"] == 1, "exactly one new leader per round"
        assert all(sample > 0 for sample in row["samples"])
    assert "| crash" in completed.stdout, "the table is printed"


@pytest.mark.timeout(300)
def test_failover_real_bench_runs_every_pod_failure_once(real_backend: RealBackend, tmp_path: Path) -> None:
    """Eviction, rolling update and node lost on KWOK's nodes, one round each, with a kubelet stand-in."""
    if real_backend.plane is None or real_backend.plane.kwok_bin_dir is None:
        pytest.skip("the real backend is a cluster of the user's own, without our KWOK nodes")
    output = tmp_path / "failover-real.json"
    completed = run_bench(
        "failover_real.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--quick",
        "--kinds",
        "ours+lg",
        "--failures",
        "eviction",
        "rolling-update",
        "node-lost",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path / "work"),
        timeout=280,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(output.read_text())
    rows = {row["failure"]: row for row in report["results"]}
    assert list(rows) == ["eviction", "rolling-update", "node-lost"]
    for row in rows.values():
        assert row["kind"] == "ours+lg" and row["rounds"] == 1
        assert row["changes_max"] == 1, f"{row['failure']}: exactly one new leader"
        assert all(sample >= 0 for sample in row["samples"])
    # A lost node: nobody renewed its Lease after the bench took it from KWOK.
    assert rows["node-lost"]["heartbeat_stopped"] is True
    (lost_after,) = rows["node-lost"]["from_fault"]
    lease_duration = report["timing"]["leaseDuration"]
    assert lost_after >= lease_duration - report["timing"]["retryPeriod"], "only the Lease's expiry frees it"
    assert "| rolling-update" in completed.stdout, "the table is printed"


@pytest.mark.timeout(240)
def test_scale_bench_real_quick_run(real_backend: RealBackend, tmp_path: Path) -> None:
    """On the real control plane, from its audit log: every actor counted, the blog's YAML alongside."""
    audit_log = audit_log_of(real_backend)
    output = tmp_path / "scale-real.json"
    completed = run_bench(
        "scale.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--audit-log",
        str(audit_log),
        "--groups",
        "3",
        "--idle-seconds",
        "4",
        "--lag-changes",
        "3",
        "--lag-rate",
        "3",
        "--quick",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path),
        timeout=230,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "blog YAML" in completed.stdout
    (run,) = json.loads(output.read_text())["runs"]
    assert run["backend"] == "real" and not run["convergence"]["timed_out"]
    by_verb = run["requests"]["by_verb"]
    for kind in ("serviceaccounts", "roles", "rolebindings", "leases", "deployments"):
        assert by_verb[f"create {kind}"] == 3, by_verb
    actors = run["cluster_bring_up"]["by_actor"]
    # The whole server's operators (other tests' too, on a shared server) wrote at least this one's writes.
    assert actors["operator"]["writes"] >= run["requests"]["writes"]
    assert actors["controller-manager"]["writes"] > 0, "the ReplicaSets and pods of the groups"
    assert run["idle"]["writes"] == 0
    assert run["idle"]["cluster"]["by_actor"]["bench"]["writes"] > 0, "the electors renewed"
    baseline = run["baseline"]
    assert not baseline["convergence"]["timed_out"]
    blog_writes = baseline["bring_up"]["by_actor"]["bench"]["write_by_verb"]
    # The user's four objects per group, and the Lease each group's first elector created.
    for kind in ("serviceaccounts", "roles", "rolebindings", "deployments", "leases"):
        assert blog_writes[f"create {kind}"] == 3, blog_writes
    assert "operator" not in baseline["bring_up"]["by_actor"]
    # The API server's own account (/metrics) of the same windows: the groups' creation is among it.
    for served in (run["apiserver_bring_up"], baseline["apiserver_bring_up"]):
        assert served["requests"] > 0 and served["serving_seconds"] > 0
    assert run["apiserver_bring_up"]["by_kind"]["POST leadergroups"]["count"] >= 3
    assert baseline["apiserver_bring_up"]["by_kind"]["POST deployments"]["count"] >= 3
    assert run["apiserver_idle"]["by_kind"]["PUT leases"]["count"] > 0, "the electors' renewals"
    assert "API server's /metrics during bring-up" in completed.stdout


@pytest.mark.timeout(240)
def test_scale_shards_bench_real_runs_the_blogs_yaml_over_namespaces(
    real_backend: RealBackend, tmp_path: Path
) -> None:
    """bench/scale_shards.py's ``blog`` setup on the real control plane: every elector led, CPU by process.

    The operator setups are not run here: their operators serve every namespace of the shared server.
    """
    audit_log = audit_log_of(real_backend)
    output = tmp_path / "scale-shards.json"
    completed = run_bench(
        "scale_shards.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--audit-log",
        str(audit_log),
        "--groups",
        "4",
        "--namespaces",
        "2",
        "--setups",
        "blog",
        "--settle",
        "1",
        "--timeout",
        "150",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path),
        timeout=230,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (blog,) = json.loads(output.read_text())["runs"]
    assert (blog["setup"], blog["replicas"], blog["processes"]) == ("blog", 0, [])
    assert blog["convergence"]["converged"] == 4 and not blog["convergence"]["timed_out"], blog
    assert blog["operator_requests"] is None and blog["namespaces_deleted_seconds"] is not None
    assert blog["bring_up_cpu"]["by_process"]["bench"] > 0
    blog_writes = blog["cluster_bring_up"]["by_actor"]["bench"]["write_by_verb"]
    # Two namespaces, four groups dealt round-robin: each group's four objects and its elector's Lease.
    for kind in ("serviceaccounts", "roles", "rolebindings", "deployments", "leases"):
        assert blog_writes[f"create {kind}"] == 4, blog_writes
    assert blog["cluster_writes_per_group"] >= 5
    assert "CPU seconds during the bring-up, by process" in completed.stdout


@pytest.mark.timeout(240)
def test_restart_bench_resumes_every_group_without_a_write(real_backend: RealBackend, tmp_path: Path) -> None:
    """bench/restart.py on the real control plane: the second operator reconciles every group, writes none."""
    audit_log = audit_log_of(real_backend)
    output = tmp_path / "restart.json"
    completed = run_bench(
        "restart.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--audit-log",
        str(audit_log),
        "--groups",
        "3",
        "--settle",
        "2",
        "--timeout",
        "150",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path),
        timeout=230,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run,) = json.loads(output.read_text())["runs"]
    assert run["resumed"] == 3 and run["resumed_seconds"] is not None, run
    # Nothing changed while no operator ran: the new one finds every child and status as it should be.
    assert (run["writes"], run["write_by_verb"]) == (0, {}), run
    # It judged each group's children as they are on the server (an existing group: read, not create).
    assert run["read_by_verb"]["get deployments"] == 3, run["read_by_verb"]
    # Kopf's initial lists come in pages (pods, children, groups); only the Lease follower's is one response.
    assert "list pods" in run["read_by_verb"] and set(run["unpaged_lists"]) <= {"list leases"}, run
    assert run["cpu"]["by_process"]["operator"] > 0
    assert "Operator restart with every group converged" in completed.stdout


@pytest.mark.timeout(150)
def test_request_cost_bench_sends_the_operators_own_requests_to_the_real_server(
    real_backend: RealBackend, tmp_path: Path
) -> None:
    """bench/request_cost.py: every row's requests were accepted, and the groups ended with the last status.

    The CPU figures are not checked: the shared server is busy with the other tests.
    """
    plane = real_backend.plane
    if plane is None:
        pytest.skip("prices requests by the CPU of our control plane's processes")
    pids = ",".join(
        f"{name}={pid}" for name, pid in plane.pids().items() if name in ("kube-apiserver", "etcd")
    )
    output = tmp_path / "request-cost.json"
    completed = run_bench(
        "request_cost.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--pids",
        pids,
        "--count",
        "3",
        "--output",
        str(output),
        timeout=140,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    payload = json.loads(output.read_text())
    rows = {row["request"]: row for row in payload["rows"]}
    # The children from the builders and the operator's status patches, each accepted by the real schema.
    for request in (
        "POST leadergroups",
        "POST serviceaccounts",
        "POST roles",
        "POST rolebindings",
        "POST leases",
        "POST deployments",
        "POST poddisruptionbudgets",
        "PATCH leadergroups/status (first)",
        "PATCH leadergroups/status (3/3)",
        "POST events",
        "PATCH pods (holder's role)",
    ):
        assert rows[request]["count"] == 3, rows
        assert set(rows[request]["cpu_ms_per_request"]) == {"kube-apiserver", "etcd"}
    status = payload["last_status"]
    assert (status["holder"], status["ready"], status["state"]) == ("g0000-pod", "3/3", "Ready"), status
    assert set(payload["per_group_ms"]) == {"operator's setup", "blog's YAML"}
    assert "CPU ms per group" in completed.stdout


@pytest.mark.timeout(150)
def test_footprint_bench_quick_run(real_backend: RealBackend, tmp_path: Path) -> None:
    output = tmp_path / "footprint.json"
    completed = run_bench(
        "footprint.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--seconds",
        "3",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path),
        timeout=140,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Footprint: one process each" in completed.stdout
    rows = json.loads(output.read_text())["runs"]
    kinds = ["client-go", "leadergroup-elector", "leadergroup-elector sidecar", "leadergroup-elector run"]
    for kind in kinds:
        roles = sorted(row["role"] for row in rows if row["process"] == kind)
        assert roles == ["leader", "standby"], (kind, roles)
    assert [row["role"] for row in rows if row["process"] == "leadergroup-operator"] == ["no group"]
    for row in rows:
        assert 0 < row["rss_mb"] <= row["peak_rss_mb"], row
        assert row["threads"] >= 1 and row["cpu_ms_per_s"] >= 0, row


def test_scale_shards_options_default_and_want_namespaces_a_multiple_of_the_shards() -> None:
    """bench/scale_shards.py: the defaults parse; namespaces that do not split evenly are refused."""
    from bench.scale_shards import parse_args

    options = parse_args(["--real"])
    assert (options.groups, options.namespaces, options.shards) == (1000, 20, 2)
    assert (options.timeout, options.settle, options.setups) == (900.0, 10.0, ["one", "sharded"])
    assert parse_args(["--kubeconfig", "kc", "--setups", "sharded"]).setups == ["sharded"]
    assert parse_args(["--real", "--setups", "blog,one"]).setups == ["blog", "one"]
    for wrong in (
        ["--real", "--namespaces", "5", "--shards", "2"],
        ["--real", "--setups", "one,three"],
        [],  # neither --real nor --kubeconfig
    ):
        with pytest.raises(SystemExit):
            parse_args(wrong)


def test_scale_shards_namespaces_are_distinct_and_balanced_over_the_shards() -> None:
    """The API server's hash decides each namespace's shard: every shard gets exactly k, dealt in turn."""
    from bench.scale_shards import balanced_namespaces

    from leadergroup.cli.sharding import shard_of

    for shards, per_shard in ((2, 10), (3, 4), (1, 2)):
        names = balanced_namespaces("lgs1-0a1b2c", shards, per_shard)
        assert len(set(names)) == len(names) == shards * per_shard
        assert [shard_of(name, shards) for name in names] == list(range(shards)) * per_shard
        assert all(name.startswith("lgs1-0a1b2c-") and len(name) <= 63 for name in names)


def test_scale_groups_without_a_disruption_budget_get_no_pdb_and_keep_the_other_children() -> None:
    """``--no-disruption-budget``: the group body turns the PodDisruptionBudget off, and only it."""
    from bench.scale import group_body, parse_args

    from leadergroup.builders import get_children
    from leadergroup.model import LeaderGroup

    def kinds(body: dict[str, object]) -> list[str]:
        complete = {**body, "metadata": {**body["metadata"], "uid": "u1", "generation": 1}}  # type: ignore[dict-item]
        return sorted(child["kind"] for child in get_children(LeaderGroup.from_body(complete)))

    assert parse_args([]).disruption_budget is True
    assert parse_args(["--no-disruption-budget"]).disruption_budget is False
    with_budget = kinds(group_body("g0001", "ns", real_cluster=True))
    without = kinds(group_body("g0001", "ns", real_cluster=True, disruption_budget=False))
    assert "PodDisruptionBudget" in with_budget
    assert without == [kind for kind in with_budget if kind != "PodDisruptionBudget"]


@pytest.mark.timeout(180)
def test_faults_bench_cuts_a_leader_of_each_kind_once(real_backend: RealBackend, tmp_path: Path) -> None:
    """bench/faults.py, elector-cut only, one round at 3/2/1: both kinds measured, one new leader each."""
    output = tmp_path / "faults.json"
    completed = run_bench(
        "faults.py",
        "--kubeconfig",
        str(real_backend.kubeconfig),
        "--scenarios",
        "elector-cut",
        "--quick",
        "--output",
        str(output),
        "--workdir",
        str(tmp_path / "work"),
        timeout=170,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(output.read_text())
    assert report["timing"] == {"leaseDuration": 3, "renewDeadline": 2, "retryPeriod": 1}
    rows = {row["kind"]: row for row in report["results"]}
    assert sorted(rows) == ["client-go", "ours"] and all(
        r["scenario"] == "elector-cut" for r in rows.values()
    )
    for kind, row in rows.items():
        (result,) = row["results"]
        assert result["changes"] == 1, f"{kind}: exactly one new leader"
        assert result["stopped"] is not None and result["standby_leads"] > 0, (kind, result)
        assert set(row["measures"]) == {"stopped", "standby_leads", "overlap"}
    # The blog's program exits once it lost the Lease; ours rejoins the election as a follower.
    assert rows["client-go"]["results"][0]["old_leader_exited"] is True
    assert rows["ours"]["results"][0]["old_leader_exited"] is False
    assert "| elector-cut" in completed.stdout and "electors at 3/2/1 s" in completed.stdout


def test_faults_bench_restarts_the_api_server_only_on_its_own_control_plane() -> None:
    """bench/faults.py: every scenario by default; with --kubeconfig the restart is left out or refused."""
    from bench.faults import SCENARIOS, parse_args

    assert parse_args([]).scenarios == list(SCENARIOS)
    assert (parse_args([]).timing, parse_args([]).rounds) == ((15, 10, 2), 3)
    assert parse_args(["--kubeconfig", "kc"]).scenarios == ["elector-cut", "operator-silent"]
    with pytest.raises(SystemExit):
        parse_args(["--kubeconfig", "kc", "--scenarios", "apiserver-restart"])

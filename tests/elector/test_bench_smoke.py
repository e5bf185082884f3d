"""bench/failover.py --quick runs end to end and writes its JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_quick_failover_bench_writes_its_report(tmp_path: Path) -> None:
    output = tmp_path / "failover.json"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "failover.py"), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["backend"] == "emulator"
    assert report["concurrent"] is True
    assert {(r["scenario"], r["timing"]["lease_duration"]) for r in report["results"]} == {
        ("graceful", 3.0),
        ("crash", 3.0),
        ("holder-deleted, fast failover", 3.0),
        ("holder-deleted, lease expiry", 3.0),
    }
    assert isinstance(report["holder_deleted_speedup"], float)
    assert report["holder_deleted_speedup"] > 0
    for result in report["results"]:
        assert result["rounds"] == len(result["samples"]) == 3
        assert all(isinstance(sample, float) and sample >= 0 for sample in result["samples"])
        assert result["min"] <= result["median"] <= result["p95"] <= result["max"]
        assert set(result["expected"]) == {"low", "high"}
    assert "graceful" in done.stdout and "crash" in done.stdout
    assert "fast failover is" in done.stdout

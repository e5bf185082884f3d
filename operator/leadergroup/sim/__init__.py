"""In-process Kubernetes API emulator for tests, benchmarks and the no-cluster demo.

See docs/testing.md for what it honours and its known gaps.
"""

from __future__ import annotations

from leadergroup.sim.faults import RequestRecord
from leadergroup.sim.harness import AsyncEmulator, Emulator

__all__ = ["AsyncEmulator", "Emulator", "RequestRecord"]

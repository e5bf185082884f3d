"""GroupController.reconcile takes turns: CONVERGING_AT_ONCE groups converge, the rest wait lock-free."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import yaml

from leadergroup.kube import KubeClient
from leadergroup.reconcile import CONVERGING_AT_ONCE, GroupController

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"


class StalledServer:
    """A client whose every request waits for an answer that never comes (the test cancels it)."""

    def __init__(self) -> None:
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        async def request(*_: Any, **__: Any) -> Any:
            self.requests += 1
            await asyncio.Event().wait()

        return request


def group(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1}
    return body


async def test_a_group_waiting_for_its_turn_leaves_its_lock_free_for_its_pods_and_children() -> None:
    server = StalledServer()
    controller = GroupController(cast(KubeClient, server))
    converging = [
        asyncio.create_task(controller.reconcile(group(f"g{index}"), fresh=True))
        for index in range(CONVERGING_AT_ONCE)
    ]
    waiting = asyncio.create_task(controller.reconcile(group("late"), fresh=True))
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert server.requests == CONVERGING_AT_ONCE, "each group in its turn sends its first create"
        assert all(controller.state(("ns", f"g{i}")).lock.locked() for i in range(CONVERGING_AT_ONCE))
        # The late group has not started: the events of its pods and children are not held up behind it.
        assert not waiting.done()
        assert not controller.state(("ns", "late")).lock.locked()
    finally:
        for task in (*converging, waiting):
            task.cancel()
        await asyncio.gather(*converging, waiting, return_exceptions=True)

"""Factories for the builder tests: a LeaderGroup body in, the validated LeaderGroup out."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


def group_body(name: str = "elector", namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    """A LeaderGroup as the API server returns it; ``spec`` keys override the defaults."""
    full_spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {"app": "elector"}},
            "spec": {"containers": [{"name": "elector", "image": "leader-election-example:latest"}]},
        },
        **copy.deepcopy(spec),
    }
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-of-{name}", "generation": 1},
        "spec": full_spec,
    }


@pytest.fixture
def make_group() -> MakeGroup:
    """Build a validated LeaderGroup from keyword overrides of the spec."""

    def make(name: str = "elector", namespace: str = "team-a", **spec: Any) -> LeaderGroup:
        return LeaderGroup.from_body(group_body(name, namespace, **spec))

    return make

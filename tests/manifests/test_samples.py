"""The samples users copy: fast failover watches the container that actually runs the elector.

``releaseOnElectorExit`` (on by default) clears the holder when the kubelet reports the elector's container
terminated; the container it watches is ``failover.electorContainer``, else the template's first one. In a
sample where that is the application and not the elector, an application crash would hand the Lease to a
standby while the leader's elector still runs and believes it leads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leadergroup.model import LeaderGroup

SAMPLES = sorted((Path(__file__).parents[2] / "manifests" / "samples").glob("*.yaml"))


def runs_an_elector(container: dict[str, Any]) -> bool:
    """Our elector in any mode, or a client-go program given the blog's lock flag."""
    words = [*container.get("command", []), *container.get("args", [])]
    return any(word == "leadergroup-elector" or word.startswith("-lease-lock-name") for word in words)


@pytest.mark.parametrize("path", SAMPLES, ids=[path.stem for path in SAMPLES])
def test_fast_failover_watches_the_container_that_runs_the_elector(path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    body["metadata"].update(namespace="default", uid="sample-uid")
    spec = LeaderGroup.from_body(body).spec
    containers = {container["name"]: container for container in spec.template["spec"]["containers"]}
    electors = sorted(name for name, container in containers.items() if runs_an_elector(container))
    assert electors, f"{path.name}: no container runs an elector"
    assert spec.elector_container in electors, (
        f"{path.name}: fast failover watches {spec.elector_container!r}, the elector runs in {electors}"
    )

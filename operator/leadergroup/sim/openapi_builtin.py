"""The OpenAPI v3 schemas of the built-in kinds the emulator serves, as a real kube-apiserver publishes them.

They are not written by hand: ``python -m tests.controlplane openapi`` reads them from the test control
plane (the release pinned in ``tests/controlplane/go/go.mod``) and writes ``openapi-builtin.json.gz``
next to this module: every schema reachable from the served kinds, descriptions included, since
``kubectl explain`` prints them. A real-backend test fails when the snapshot and the server disagree.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources
from typing import Any

JsonDict = dict[str, Any]
SNAPSHOT = "openapi-builtin.json.gz"


@cache
def _snapshot() -> JsonDict:
    data = resources.files("leadergroup.sim").joinpath(SNAPSHOT).read_bytes()
    loaded: JsonDict = json.loads(gzip.decompress(data))
    return loaded


def release() -> str:
    """The kube-apiserver release the schemas were read from (``v1.37.2``)."""
    return str(_snapshot()["release"])


def schemas() -> dict[str, JsonDict]:
    """Schema name (``io.k8s.api.apps.v1.Deployment``) → schema, for every built-in served."""
    found: dict[str, JsonDict] = _snapshot()["schemas"]
    return found


@cache
def _by_kind() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in schemas().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            index[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
    return index


def kind_names(group: str, version: str, kind: str) -> list[str]:
    """The schema names of a kind and of its list (those the snapshot has; the kind's first)."""
    index = _by_kind()
    return [name for key in (kind, f"{kind}List") if (name := index.get((group, version, key)))]

"""The emulator's snapshot of built-in OpenAPI v3 schemas, read from a real kube-apiserver.

``python -m tests.controlplane openapi`` starts the test control plane, reads ``/openapi/v3`` and the
document of every group version whose kinds the emulator serves, keeps the schemas reachable from those
kinds, and writes ``operator/leadergroup/sim/openapi-builtin.json.gz`` (reproducible: sorted keys, gzip
without a timestamp). ``tests/integration/test_openapi.py`` compares it with the session's server.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leadergroup.sim import openapi, openapi_builtin
from leadergroup.sim.builtin import builtin_types

JsonDict = dict[str, Any]
SNAPSHOT_PATH = Path(openapi_builtin.__file__).with_name(openapi_builtin.SNAPSHOT)
# What custom kinds' documents refer to, besides what the built-in kinds reach.
EXTRA_ROOTS = (
    *(openapi.META + name for name in ("ObjectMeta", "ListMeta", "Patch", "Status", "DeleteOptions")),
    "io.k8s.api.autoscaling.v1.Scale",
)


def kubectl_get_raw(kubectl: Path, kubeconfig: Path) -> Callable[[str], JsonDict]:
    """A reader of raw API paths through kubectl (the admin's credentials)."""

    def get(path: str) -> JsonDict:
        done = subprocess.run(
            [str(kubectl), "--kubeconfig", str(kubeconfig), "get", "--raw", path],
            capture_output=True,
            text=True,
            check=True,
        )
        loaded: JsonDict = json.loads(done.stdout)
        return loaded

    return get


def _document_path(gvk: JsonDict) -> str:
    group, version = gvk.get("group") or "", gvk.get("version") or ""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def read_snapshot(get: Callable[[str], JsonDict], release: str) -> JsonDict:
    """The schemas of the emulator's built-in kinds, as the server behind ``get`` publishes them."""
    root = get("/openapi/v3")["paths"]
    wanted: dict[str, set[str]] = {}
    for rtype in builtin_types():
        path = f"apis/{rtype.group}/{rtype.version}" if rtype.group else f"api/{rtype.version}"
        wanted.setdefault(path, set()).update({rtype.kind, f"{rtype.kind}List"})
    schemas: dict[str, JsonDict] = {}
    for path, kinds in sorted(wanted.items()):
        document = get(root[path]["serverRelativeURL"])
        available = document["components"]["schemas"]
        roots = [
            name
            for name, schema in available.items()
            for gvk in schema.get("x-kubernetes-group-version-kind") or []
            if gvk.get("kind") in kinds and _document_path(gvk) == path
        ]
        roots.extend(name for name in EXTRA_ROOTS if name in available)
        schemas.update(openapi.reachable(available, roots))
    return {"release": release, "schemas": dict(sorted(schemas.items()))}


def encode(snapshot: JsonDict) -> bytes:
    """The snapshot file's bytes: the same for the same schemas."""
    text = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def write_snapshot(kubectl: Path, kubeconfig: Path, release: str) -> Path:
    """Read the snapshot from a server and write it into the package."""
    SNAPSHOT_PATH.write_bytes(encode(read_snapshot(kubectl_get_raw(kubectl, kubeconfig), release)))
    return SNAPSHOT_PATH

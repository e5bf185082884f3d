"""The emulator's OpenAPI is the real server's: the built-in snapshot, and custom kinds built alike."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.controlplane.openapi import encode, kubectl_get_raw, read_snapshot
from tests.support.cluster import CRD_DIR, RealBackend

from leadergroup.sim import Emulator, openapi_builtin


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def published_by_the_emulator() -> dict[str, Any]:
    with Emulator() as emu:
        emu.load_crds(*sorted(CRD_DIR.glob("*.yaml")))
        url = _get(emu.url, "/openapi/v3")["paths"]["apis/leadergroup.dev/v1alpha1"]["serverRelativeURL"]
        document: dict[str, Any] = _get(emu.url, url)
        return document


def test_the_built_in_snapshot_is_what_the_server_publishes(real_backend: RealBackend) -> None:
    if real_backend.plane is None:
        pytest.skip("the snapshot is of the pinned release; LEADERGROUP_TEST_KUBECONFIG names another server")
    live = read_snapshot(
        kubectl_get_raw(Path(real_backend.kubectl_binary), real_backend.kubeconfig), openapi_builtin.release()
    )
    packaged = {"release": openapi_builtin.release(), "schemas": openapi_builtin.schemas()}
    assert encode(live) == encode(packaged), (
        "run `python -m tests.controlplane openapi` and commit the result"
    )


def test_leadergroup_schemas_are_published_alike(
    real_backend: RealBackend, published_by_the_emulator: dict[str, Any]
) -> None:
    get = kubectl_get_raw(Path(real_backend.kubectl_binary), real_backend.kubeconfig)
    url = get("/openapi/v3")["paths"]["apis/leadergroup.dev/v1alpha1"]["serverRelativeURL"]
    real = get(url)["components"]["schemas"]
    emulated = published_by_the_emulator["components"]["schemas"]
    for name in ("dev.leadergroup.v1alpha1.LeaderGroup", "dev.leadergroup.v1alpha1.LeaderGroupList"):
        assert json.dumps(emulated[name], sort_keys=True) == json.dumps(real[name], sort_keys=True), name
    assert set(emulated) == set(real)

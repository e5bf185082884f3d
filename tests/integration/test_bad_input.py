"""Bad input gets a clear error and loses nothing: the whole invalid corpus against a live API server.

Each "rejected" case is refused at create time with the API server's message; each "stalled" case is
accepted, and the operator reports it as Stalled with its message — while a valid group created alongside
is served as usual and the operator does not crash.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "invalid_leadergroups.yaml"
SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def corpus() -> list[dict[str, Any]]:
    return list(yaml.safe_load(CORPUS.read_text()))


def named(case: dict[str, Any], namespace: str) -> dict[str, Any]:
    body = copy.deepcopy(case["object"])
    body["metadata"]["namespace"] = namespace
    # Cases about the name keep theirs; the others get a unique one so they can live side by side.
    if body["metadata"].get("name") == "bad":
        body["metadata"]["name"] = f"bad-{case['case']}"[:56].rstrip("-")
    return dict(body)


def stalled_message(group: dict[str, Any]) -> str | None:
    for condition in group.get("status", {}).get("conditions", []):
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return str(condition["message"])
    return None


async def test_invalid_groups_are_refused_or_stalled_and_valid_ones_still_served(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    stalled: dict[str, tuple[str, str]] = {}
    for case in corpus():
        body = named(case, namespace)
        if case["expect"] == "rejected":
            try:
                await client.create(LEADERGROUPS, body, namespace)
            except ApiError as error:
                assert error.status == 422, (case["case"], error)
                assert case["message"] in error.message, (case["case"], error.message)
            else:
                raise AssertionError(f"{case['case']}: the API server accepted it")
        else:
            created = await client.create(LEADERGROUPS, body, namespace)
            name = created["metadata"]["name"]
            # The corpus's messages name the group "bad"; here it has a unique name.
            stalled[case["case"]] = (name, case["message"].replace("'bad'", f"'{name}'"))

    valid = yaml.safe_load((SAMPLES / "minimal.yaml").read_text())
    valid["metadata"] = {"name": "valid", "namespace": namespace}
    await client.create(LEADERGROUPS, valid, namespace)

    async def all_reported() -> dict[str, str] | None:
        messages = {}
        for case, (name, _) in stalled.items():
            message = stalled_message(await client.get(LEADERGROUPS, name, namespace))
            if message is None:
                return None
            messages[case] = message
        return messages

    messages = await eventually(all_reported, timeout=20, message="every stalled case reported")
    for case, (_, expected) in stalled.items():
        assert expected in messages[case], (case, messages[case])
        # Nothing was built for a group the operator refused.
        try:
            await client.get(DEPLOYMENTS, stalled[case][0], namespace)
        except ApiError as error:
            assert error.not_found
        else:
            raise AssertionError(f"{case}: a Deployment was created for an invalid group")

    async def valid_served() -> bool:
        try:
            await client.get(DEPLOYMENTS, "valid", namespace)
        except ApiError:
            return False
        return True

    await eventually(valid_served, timeout=10, message="the valid group is served")

"""A CRD whose `default` breaks its own CEL rules is refused at creation, by both backends alike.

The first install on a real API server failed this way (`election.default: {}` meets rules that read its
fields): every test passed because none sent the CRD to a real server. Here the same mistake, on a renamed
copy of our CRD, must be refused with the real server's words; the shipped CRD is installed by the
session itself (`kubectl apply -k crds/`).
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest
from tests.support.cluster import Cluster, project_crds

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import CRDS

ELECTION = "spec.validation.openAPIV3Schema.properties[spec].properties[election].default"


def leadergroup_crd_renamed(plural: str) -> dict[str, Any]:
    crd = copy.deepcopy(next(c for c in project_crds() if c["spec"]["names"]["kind"] == "LeaderGroup"))
    kind = plural.capitalize()
    crd["metadata"] = {"name": f"{plural}.{crd['spec']['group']}"}
    crd["spec"]["names"] = {"plural": plural, "singular": plural, "kind": kind, "listKind": f"{kind}List"}
    return crd


async def test_a_default_that_breaks_its_rules_is_refused_with_the_servers_words(
    cluster: Cluster, client: KubeClient
) -> None:
    crd = leadergroup_crd_renamed(f"broken{secrets.token_hex(3)}")
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["election"][
        "default"
    ] = {}
    with pytest.raises(ApiError) as refused:
        await client.create(CRDS, crd)
    assert refused.value.status == 422
    causes = [(c["field"], c["message"]) for c in refused.value.body["details"]["causes"]]
    assert causes == [
        (
            ELECTION,
            'Invalid value: "object": no such key: leaseDurationSeconds evaluating rule: '
            "leaseDurationSeconds must be greater than renewDeadlineSeconds: the leader has to give up "
            "before its Lease expires, or two leaders can overlap",
        ),
        (
            ELECTION,
            'Invalid value: "object": no such key: renewDeadlineSeconds evaluating rule: '
            "renewDeadlineSeconds must be greater than 1.2 * retryPeriodSeconds: the leader needs room "
            "for more than one renewal attempt before it gives up",
        ),
    ]


async def test_the_shipped_defaults_satisfy_their_rules(cluster: Cluster, client: KubeClient) -> None:
    crd = leadergroup_crd_renamed(f"fine{secrets.token_hex(3)}")
    created = await client.create(CRDS, crd)
    try:
        assert created["spec"]["names"]["kind"] == crd["spec"]["names"]["kind"]
    finally:
        await client.delete(CRDS, created["metadata"]["name"])

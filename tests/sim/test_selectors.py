"""Label and field selectors: parsing, matching, and lists over HTTP (namespaced and cluster-wide)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sim.conftest import LEASES, Api, lease

from leadergroup.sim.errors import ApiError
from leadergroup.sim.selectors import compile_selectors, match_labels_selector, parse_label_selector


def labelled(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "1"}, True),
        ("a=1", {"a": "2"}, False),
        ("a!=1", {"a": "2"}, True),
        ("a!=1", {}, True),  # kube: != also matches objects without the key
        ("a in (1, 2)", {"a": "2"}, True),
        ("a in (1,2)", {}, False),
        ("a notin (1,2)", {"a": "3"}, True),
        ("a notin (1,2)", {}, True),
        ("a", {"a": ""}, True),
        ("a", {}, False),
        ("!a", {}, True),
        ("!a", {"a": "1"}, False),
        ("a=1,b in (x,y),!c", {"a": "1", "b": "y"}, True),
        ("a=1,b in (x,y),!c", {"a": "1", "b": "y", "c": "z"}, False),
        ("app.kubernetes.io/name=x", {"app.kubernetes.io/name": "x"}, True),
        ("", {"a": "1"}, True),
    ],
)
def test_label_selector_semantics(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert compile_selectors(selector, None)(labelled(**labels)) is expected


@pytest.mark.parametrize("selector", ["a in (1", "a=1=2", "=x", "a in"])
def test_bad_label_selectors_are_400(selector: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_label_selector(selector)
    assert caught.value.code == 400


def test_field_selectors() -> None:
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {"nodeName": "node-1"}, "status": {}}
    assert compile_selectors(None, "metadata.name=p,metadata.namespace=n")(pod)
    assert not compile_selectors(None, "metadata.name!=p")(pod)
    assert compile_selectors(None, "spec.nodeName=node-1", ("spec.nodeName",))(pod)
    assert compile_selectors(None, "status.phase=", ("status.phase",))(pod)  # absent compares as ""
    with pytest.raises(ApiError) as caught:
        compile_selectors(None, "spec.holderIdentity=x")
    assert caught.value.code == 400 and "field label not supported" in caught.value.message


def test_match_labels_selector_string() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["x", "y"]},
            {"key": "d", "operator": "DoesNotExist"},
        ],
    }
    assert match_labels_selector(selector) == "a=1,b=2,c in (x,y),!d"


async def test_list_with_selectors_over_http(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a", labels={"team": "x", "tier": "1"}))
    await api.ok("POST", LEASES, lease("b", labels={"team": "y"}))
    await api.ok("POST", LEASES, lease("c"))

    async def names(**params: str) -> list[str]:
        listed = await api.ok("GET", LEASES, params=params)
        return [item["metadata"]["name"] for item in listed["items"]]

    assert await names(labelSelector="team") == ["a", "b"]
    assert await names(labelSelector="team notin (x)") == ["b", "c"]
    assert await names(labelSelector="team=x,tier in (1,2)") == ["a"]
    assert await names(fieldSelector="metadata.name=b") == ["b"]
    assert (await api.get(LEASES, params={"labelSelector": "team in ("})).status == 400


async def test_list_carries_a_resource_version_and_list_kind(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    listed = await api.ok("GET", LEASES)
    assert listed["kind"] == "LeaseList" and listed["apiVersion"] == "coordination.k8s.io/v1"
    assert listed["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    # A real server leaves apiVersion/kind out of built-in list items; clients must not rely on them.
    assert "kind" not in listed["items"][0]


async def test_cluster_wide_lists_of_namespaced_resources(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    await api.ok("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease("b"))
    listed = await api.ok("GET", "/apis/coordination.k8s.io/v1/leases")
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]) == [
        ("default", "a"),
        ("kube-system", "b"),
    ]
    pods = await api.ok("GET", "/api/v1/pods")
    assert pods["kind"] == "PodList" and pods["items"] == []


async def test_pod_field_selectors_over_http(api: Api) -> None:
    pods = "/api/v1/namespaces/default/pods"
    for name, node in (("p1", "node-1"), ("p2", "node-2")):
        await api.ok(
            "POST",
            pods,
            {
                "metadata": {"name": name},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            },
        )
    listed = await api.ok("GET", pods, params={"fieldSelector": "spec.nodeName=node-2,status.phase=Pending"})
    assert [item["metadata"]["name"] for item in listed["items"]] == ["p2"]


@pytest.mark.parametrize(("selector", "matched"), [("a in ()", ["empty"]), ("a notin ( )", ["none", "one"])])
async def test_an_empty_set_holds_the_empty_value_as_kubes_parser_reads_it(
    api: Api, selector: str, matched: list[str]
) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    for name, labels in (("empty", {"a": ""}), ("one", {"a": "1"}), ("none", {})):
        await api.ok("POST", path, {"metadata": {"name": name, "labels": labels}})
    listed = await api.ok("GET", path, params={"labelSelector": selector})
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == matched

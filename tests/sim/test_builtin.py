"""Built-in resources: defaulting, services, access reviews, JSON-only negotiation."""

from __future__ import annotations

import pytest
from tests.sim.conftest import LEASES, Api, lease
from tests.sim.test_patch import DEPLOYMENTS, deployment

BUILTIN_COLLECTIONS = [
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/services",
    "/api/v1/namespaces/default/serviceaccounts",
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/secrets",
    "/api/v1/namespaces/default/events",
    "/apis/events.k8s.io/v1/namespaces/default/events",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/replicasets",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    LEASES,
    "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
]


@pytest.mark.parametrize("path", BUILTIN_COLLECTIONS)
async def test_builtin_collections_are_served(api: Api, path: str) -> None:
    listed = await api.ok("GET", path)
    assert listed["kind"].endswith("List")


async def test_deployment_defaults_match_a_real_api_server(api: Api) -> None:
    created = await api.ok(
        "POST",
        DEPLOYMENTS,
        deployment(
            "d",
            [
                {
                    "name": "app",
                    "image": "example/app:1.0",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                },
                {"name": "latest", "image": "example/app"},
            ],
        ),
    )
    spec = created["spec"]
    assert (
        spec["replicas"] == 1
        and spec["revisionHistoryLimit"] == 10
        and spec["progressDeadlineSeconds"] == 600
    )
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always" and pod["dnsPolicy"] == "ClusterFirst"
    assert pod["terminationGracePeriodSeconds"] == 30 and pod["schedulerName"] == "default-scheduler"
    app, latest = pod["containers"]
    assert app["imagePullPolicy"] == "IfNotPresent" and latest["imagePullPolicy"] == "Always"
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert app["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert app["terminationMessagePath"] == "/dev/termination-log"


async def test_deployment_selector_is_immutable(api: Api) -> None:
    await api.ok("POST", DEPLOYMENTS, deployment("d", [{"name": "a", "image": "a:1"}]))
    reply = await api.patch(f"{DEPLOYMENTS}/d", {"spec": {"selector": {"matchLabels": {"app": "other"}}}})
    assert reply.status == 422 and "immutable" in reply.body["message"]


async def test_service_gets_a_cluster_ip_and_defaults(api: Api) -> None:
    services = "/api/v1/namespaces/default/services"
    created = await api.ok("POST", services, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    spec = created["spec"]
    assert spec["type"] == "ClusterIP" and spec["clusterIP"].startswith("10.96.")
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    replaced = await api.ok(
        "PUT", f"{services}/s", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 81}]}}
    )
    assert replaced["spec"]["clusterIP"] == spec["clusterIP"]


async def test_self_subject_access_reviews_are_always_allowed(api: Api) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}},
    }
    answer = await api.ok("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    assert answer["status"]["allowed"] is True


async def test_protobuf_only_accept_is_406(api: Api) -> None:
    reply = await api.get(LEASES, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert reply.status == 406 and reply.body["reason"] == "NotAcceptable"


async def test_protobuf_with_json_fallback_gets_json(api: Api) -> None:
    reply = await api.get(LEASES, headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert reply.status == 200 and reply.body["kind"] == "LeaseList"


async def test_protobuf_request_body_is_415(api: Api) -> None:
    reply = await api.request(
        "POST", LEASES, b"\x6b\x38\x73\x00", content_type="application/vnd.kubernetes.protobuf"
    )
    assert reply.status == 415 and "rest.Config.ContentType = application/json" in reply.body["message"]
    assert "--dry-run=client -o yaml | kubectl apply -f -" in reply.body["message"]


async def test_dry_run_is_refused_rather_than_applied(api: Api) -> None:
    reply = await api.post(LEASES, lease("a"), params={"dryRun": "All"})
    assert reply.status == 400
    assert (await api.get(f"{LEASES}/a")).status == 404


async def test_method_not_allowed(api: Api) -> None:
    reply = await api.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert reply.status == 405

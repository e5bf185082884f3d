"""``fieldValidation``: unknown fields refused (Strict), warned about (Warn, the default) or dropped."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sim.conftest import CRD_PATH, WIDGETS, Api, widget, widget_crd

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "imagee": "typo"}]},
            },
            **spec,
        },
    }


async def test_strict_refuses_a_built_in_kind_with_every_unknown_field(api: Api) -> None:
    reply = await api.post(DEPLOYMENTS, deployment(replicaz=2), params={"fieldValidation": "Strict"})
    assert reply.status == 400 and reply.body["reason"] == "BadRequest"
    # In the body's order, as the real server's decoder meets them.
    assert reply.body["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].imagee", unknown field "spec.replicaz"'
    )
    assert (await api.get(DEPLOYMENTS + "/web")).status == 404


@pytest.mark.parametrize("directive", ["Warn", "Ignore", None])
async def test_otherwise_the_fields_are_dropped_and_warn_says_so(api: Api, directive: str | None) -> None:
    params = {"fieldValidation": directive} if directive else None
    reply = await api.post(DEPLOYMENTS, deployment(replicaz=2), params=params)
    assert reply.status == 201
    assert "replicaz" not in reply.body["spec"]
    assert "imagee" not in reply.body["spec"]["template"]["spec"]["containers"][0]
    warning = reply.headers.get("Warning", "")
    if directive == "Ignore":
        assert warning == ""
    else:  # Warn is the server's default
        assert (
            warning == '299 - "unknown field \\"spec.template.spec.containers[0].imagee\\""'
        )  # the first of two


async def test_custom_resources_are_judged_by_their_schema(api: Api) -> None:
    await api.ok("POST", CRD_PATH, widget_crd())
    typo = widget("w")
    typo["spec"]["sizee"] = 3
    refused = await api.post(WIDGETS, typo, params={"fieldValidation": "Strict"})
    assert refused.status == 400
    assert refused.body["message"].endswith('strict decoding error: unknown field "spec.sizee"')
    warned = await api.post(WIDGETS, typo)
    assert warned.status == 201 and "sizee" not in warned.body["spec"]
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.sizee\\""'


async def test_a_patch_is_judged_on_the_patched_object(api: Api) -> None:
    await api.ok("POST", DEPLOYMENTS, deployment())
    reply = await api.request(
        "PATCH",
        DEPLOYMENTS + "/web",
        {"spec": {"paused": True, "pausd": True}},
        content_type="application/merge-patch+json",
        params={"fieldValidation": "Strict"},
    )
    assert reply.status == 400 and 'unknown field "spec.pausd"' in reply.body["message"]


async def test_an_unknown_directive_is_invalid_options(api: Api) -> None:
    reply = await api.post(DEPLOYMENTS, deployment(), params={"fieldValidation": "Loose"})
    assert reply.status == 422 and reply.body["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )

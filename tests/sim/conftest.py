"""Fixtures for the emulator's own tests: a fresh emulator and a bare aiohttp client (no project client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from leadergroup.sim import Emulator

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """Raw HTTP against the emulator, so the tests see exactly what a client would."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str = "tester") -> None:
        self.session = session
        self.base_url = base_url
        self.token = token

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": content_type,
            **(headers or {}),
        }
        data = json.dumps(body) if body is not None and not isinstance(body, (str, bytes)) else body
        async with self.session.request(
            method, self.base_url + path, data=data, headers=all_headers, params=params
        ) as response:
            text = await response.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return Reply(response.status, parsed, dict(response.headers))

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.request("POST", path, body, **kwargs)

    async def put(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return await self.request("PUT", path, body, **kwargs)

    async def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json") -> Reply:
        return await self.request("PATCH", path, body, content_type=content_type)

    async def delete(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("DELETE", path, body, **kwargs)

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The body of a request that must succeed."""
        reply = await self.request(method, path, body, **kwargs)
        assert 200 <= reply.status < 300, (reply.status, reply.body)
        return reply.body

    async def watch_events(
        self, path: str, params: dict[str, str], *, count: int | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Events of a watch until ``count`` arrived or the server ended the stream."""
        events: list[dict[str, Any]] = []
        all_params = {"watch": "true", **params}
        headers = {"Authorization": f"Bearer {self.token}"}
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with self.session.get(
            self.base_url + path, params=all_params, headers=headers, timeout=client_timeout
        ) as response:
            assert response.status == 200, await response.text()
            async for line in response.content:
                if line.strip():
                    events.append(json.loads(line))
                if count is not None and len(events) >= count:
                    break
        return events


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(bookmark_interval=0.2) as emu:
        yield emu


@pytest.fixture
async def api(emulator: Emulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, emulator.url)


def lease(name: str, holder: str = "", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, **metadata},
        "spec": {"holderIdentity": holder},
    }


def widget_crd(*, status_subresource: bool = True, scope: str = "Namespaced") -> dict[str, Any]:
    """A small CRD with a schema, printer columns and optionally the status subresource."""
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer", "minimum": 0},
                            "color": {"type": "string", "default": "blue"},
                        },
                    },
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
        "additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    if status_subresource:
        version["subresources"] = {
            "status": {},
            "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"},
        }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": scope,
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [version],
        },
    }


WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def widget(name: str, size: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size},
        **extra,
    }


async def watches_started(emulator: Emulator, count: int = 1) -> None:
    """Wait until ``count`` watches are subscribed (they are logged once their stream is live)."""
    from tests.support import eventually

    await eventually(
        lambda: sum(record.verb == "watch" for record in emulator.requests) >= count,
        timeout=5,
        message=f"{count} watch(es) started",
    )

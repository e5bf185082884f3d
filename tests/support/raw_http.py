"""Raw requests to an API server, keeping what a typed client hides: status, headers, body as sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from leadergroup.kube.client import open_session
from leadergroup.kube.config import from_kubeconfig


@dataclass(frozen=True)
class Answer:
    """One response."""

    status: int
    body: Any
    warnings: tuple[str, ...] = field(default=())


def _warning_text(header: str) -> str:
    # `299 - "unknown field \"spec.x\""`: the quoted text, unescaped, as client-go prints it.
    _, _, quoted = header.partition(' - "')
    return quoted.rstrip('"').replace('\\"', '"')


class RawClient:
    """An aiohttp session with a kubeconfig's credentials (bearer token or client certificate)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.connection = from_kubeconfig(kubeconfig)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RawClient:
        self._session = open_session(self.connection, connection_limit=100)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float = 30,
    ) -> Answer:
        """Send one request; a watch is read to its end (give it ``timeoutSeconds``)."""
        assert self._session is not None, "use RawClient as an async context manager"
        headers = {"Accept": accept}
        token = self.connection.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data: str | None = None
        if body is not None:
            data = body if isinstance(body, str) else json.dumps(body)
            headers["Content-Type"] = content_type
        async with self._session.request(
            method,
            self.connection.server + path,
            params=dict(query or {}),
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            warnings = tuple(_warning_text(value) for value in response.headers.getall("Warning", []))
        decoded: Any
        if query and query.get("watch") in ("1", "true"):
            decoded = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            try:
                decoded = json.loads(text) if text else None
            except json.JSONDecodeError:
                decoded = text
        return Answer(response.status, decoded, warnings)

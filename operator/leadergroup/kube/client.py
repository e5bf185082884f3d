"""A small asyncio Kubernetes REST client: JSON over aiohttp, plain dicts in and out.

Why not the ``kubernetes`` package's client: it is synchronous (a thread per call inside Kopf's event loop)
and turns every answer into model objects. The operator and the elector need a handful of verbs, conditional
writes and watches, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Literal

import aiohttp

from leadergroup import __version__
from leadergroup.kube import config
from leadergroup.kube.errors import ApiError, ApiUnavailable, WatchSilent
from leadergroup.kube.liveness import WATCH_IDLE_SECONDS, keepalive_socket
from leadergroup.kube.resources import Resource

PatchType = Literal["merge", "json", "strategic"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
DEFAULT_USER_AGENT = f"leadergroup/{__version__}"
# After a 401 the credentials are loaded again (an exec plugin run again) at most this often.
RECONNECT_INTERVAL_SECONDS = 10.0


class KubeClient:
    """One API server, one aiohttp session. Use as an async context manager or call :meth:`close`.

    Given ``reconnect`` (as :meth:`auto` does), a 401 loads the credentials again and retries once, as
    client-go does for exec plugins: a client certificate an exec plugin issued expires with no token
    expiry to warn of it, and a token can be revoked before its expiry.
    """

    def __init__(
        self,
        connection: config.Connection,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        request_timeout: float = 30.0,
        reconnect: Callable[[], config.Connection] | None = None,
        connection_limit: int = 64,
    ) -> None:
        self.connection = connection
        # Connections open at once (0: no limit). HTTP/1.1 carries one request at a time per connection, and
        # each TLS connection holds some 300 kB of buffers; a watch holds its connection while it lasts.
        self.connection_limit = connection_limit
        self.user_agent = user_agent
        self.request_timeout = request_timeout
        self._reconnect = reconnect
        self._reconnected_at: float | None = None
        self._reconnecting = asyncio.Lock()
        self._refreshing = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._retired_sessions: list[tuple[float, aiohttp.ClientSession]] = []

    @classmethod
    def auto(cls, kubeconfig: str | os.PathLike[str] | None = None, **kwargs: Any) -> KubeClient:
        """A client for the given kubeconfig, else ``$KUBECONFIG`` / ``~/.kube/config``, else in-cluster."""
        return cls(
            config.auto(kubeconfig),
            reconnect=lambda: config.auto(kubeconfig, fresh_credentials=True),
            **kwargs,
        )

    @property
    def namespace(self) -> str:
        """The namespace of the kubeconfig's current context (or the pod's own namespace)."""
        return self.connection.namespace

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (and those left by a reconnect)."""
        for _, session in self._retired_sessions:
            await session.close()
        if self._session is not None:
            await self._session.close()
        self._session, self._retired_sessions = None, []

    async def _renewed(self, rejected: config.Connection) -> bool:
        """After a 401 with ``rejected``: load the credentials again; True when a retry may now succeed."""
        if self._reconnect is None:
            return False
        async with self._reconnecting:
            if self.connection is not rejected:
                return True  # another request renewed them meanwhile
            now = time.monotonic()
            if self._reconnected_at is not None and now - self._reconnected_at < RECONNECT_INTERVAL_SECONDS:
                return False  # just renewed, and still refused: the credentials themselves are refused
            self._reconnected_at = now
            try:
                # In a thread: an exec plugin may take seconds, and the event loop is shared.
                self.connection = await asyncio.to_thread(self._reconnect)
            except config.ConfigError:
                return False
            await self._retire_session(now)
            return True

    async def _retire_session(self, now: float) -> None:
        """A new TLS context needs a new session: the current one is left to its requests, then closed."""
        if self._session is not None:
            self._retired_sessions.append((now, self._session))
            self._session = None
        # Sessions retired longer ago than a request may take are closed; a watch still open on one ends,
        # and its caller watches again with the new credentials. Under lasting 401s this keeps a few.
        retired, self._retired_sessions = self._retired_sessions, []
        for at, session in retired:
            if now - at < self.request_timeout:
                self._retired_sessions.append((at, session))
            else:
                await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = open_session(self.connection, connection_limit=self.connection_limit)
        return self._session

    async def _fresh_headers(self, content_type: str | None = None) -> dict[str, str]:
        """The request's headers, a token due for renewal renewed first, in a thread (an exec plugin)."""
        if self.connection.token_due():
            async with self._refreshing:
                if self.connection.token_due():  # not renewed by another request meanwhile
                    await asyncio.to_thread(self.connection.token)
        return self._headers(content_type)

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        headers.update(authorization(self.connection))
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON answer; raise :class:`ApiError` on failure."""
        connection = self.connection
        try:
            return await self._send(method, path, params, body, content_type)
        except ApiError as error:
            if error.status != 401 or not await self._renewed(connection):
                raise
        return await self._send(method, path, params, body, content_type)

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any, content_type: str
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        headers = await self._fresh_headers(content_type if data is not None else None)
        try:
            async with self._http().request(
                method,
                self.connection.server + path,
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as response:
                text = await response.text()
                try:
                    answer = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    answer = text
                if response.status >= 400:
                    raise ApiError.from_status(response.status, answer)
                return answer if isinstance(answer, dict) else {"raw": answer}
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise ApiUnavailable(f"{method} {path}: {error!r}") from error

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> dict[str, Any]:
        """Read one object."""
        return await self.request("GET", resource.path(namespace, name, subresource))

    async def get_or_none(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """Read one object; None when it (or its namespace) does not exist."""
        try:
            return await self.get(resource, name, namespace)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        shard_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """List objects (all namespaces when ``namespace`` is None).

        With ``limit``, one page of at most that many: ``metadata.continue`` of the answer, passed back as
        ``continue_token``, asks for the next page of the same list (empty or absent on the last page).
        """
        params = _selectors(label_selector, field_selector, shard_selector)
        if limit:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        return await self.request("GET", resource.path(namespace), params=params)

    async def create(
        self, resource: Resource, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Create an object; a name clash raises ``ApiError`` with ``already_exists``."""
        return await self.request("POST", resource.path(namespace), body=body)

    async def replace(
        self,
        resource: Resource,
        name: str,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PUT the whole object; conditional when the body carries ``metadata.resourceVersion``."""
        return await self.request("PUT", resource.path(namespace, name, subresource), body=body)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Patch an object; a merge patch carrying ``metadata.resourceVersion`` is conditional."""
        return await self.request(
            "PATCH",
            resource.path(namespace, name, subresource),
            body=patch,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
        )

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Delete an object, optionally only if it is still at ``resource_version``."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        return await self.request("DELETE", resource.path(namespace, name), body=options)

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = False,
        shard_selector: str | None = None,
        idle_timeout: float | None = WATCH_IDLE_SECONDS,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream watch events (``{"type": ..., "object": ...}``) until the server ends the stream.

        An ``ERROR`` event (410 Gone after compaction, for one) is raised as :class:`ApiError`. A stream
        that delivers nothing at all (not even its headers, an event or a bookmark) for ``idle_timeout``
        seconds is closed and :class:`WatchSilent` raised: a connection that died silently never ends by
        itself (:mod:`leadergroup.kube.liveness`; ask for bookmarks and a ``timeout_seconds`` below it, so
        that a healthy stream is never that quiet). Getting a connection (a free slot in the pool, the
        address, a proxy's CONNECT, TLS) is bounded by the request timeout.
        """
        params = _selectors(label_selector, field_selector, shard_selector)
        params["watch"] = "true"
        if resource_version:
            params["resourceVersion"] = resource_version
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        # sock_read bounds every wait for the next bytes of the answer, the headers included.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.request_timeout,
            sock_connect=self.request_timeout,
            sock_read=idle_timeout,
        )
        connection = self.connection
        headers = await self._fresh_headers()
        try:
            async with self._http().get(
                self.connection.server + resource.path(namespace),
                params=params,
                headers=headers,
                timeout=timeout,
            ) as response:
                if response.status >= 400:
                    text = await response.text()
                    if response.status == 401:
                        await self._renewed(connection)  # for the caller's next watch
                    raise ApiError.from_status(response.status, _json_or_text(text))
                async for event in _json_lines(response.content):
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError.from_status(int(status.get("code", 500)), status)
                    yield event
        except aiohttp.SocketTimeoutError as error:
            assert idle_timeout is not None  # no read bound, no read timeout
            message = f"watch {resource}: nothing received for {idle_timeout:g}s"
            raise WatchSilent(message, idle_timeout) from error
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise ApiUnavailable(f"watch {resource}: {error!r}") from error


def authorization(connection: config.Connection) -> dict[str, str]:
    """The ``Authorization`` header for the connection's current token (none without one)."""
    token = connection.token()
    if not token:
        return {}
    scheme_given = token.lower().startswith(("bearer ", "basic "))
    return {"Authorization": token if scheme_given else f"Bearer {token}"}


def open_session(
    connection: config.Connection, *, connection_limit: int, headers: Mapping[str, str] | None = None
) -> aiohttp.ClientSession:
    """An aiohttp session to ``connection``'s server: its TLS context and proxy (0 connections: no limit).

    Its sockets keep TCP keepalive on (:func:`leadergroup.kube.liveness.keepalive_socket`): a connection
    whose peer is gone is dropped within some 30 s instead of waiting on it for ever.

    Our client and Kopf's (the operator's login) both use it, so both reach the server the same way.
    """
    connector = aiohttp.TCPConnector(
        ssl=connection.ssl_context or False, limit=connection_limit, socket_factory=keepalive_socket
    )
    return aiohttp.ClientSession(connector=connector, proxy=connection.proxy, headers=headers)


def _selectors(
    label_selector: str | None, field_selector: str | None, shard_selector: str | None = None
) -> dict[str, str]:
    params: dict[str, str] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    if shard_selector:  # server-side sharded list and watch (leadergroup.cli.sharding)
        params["shardSelector"] = shard_selector
    return params


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


async def _json_lines(stream: aiohttp.StreamReader) -> AsyncIterator[dict[str, Any]]:
    # Watch events are newline-delimited JSON; one event may be larger than aiohttp's readline limit.
    buffer = b""
    async for chunk in stream.iter_any():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)

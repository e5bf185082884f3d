"""``Emulator``: the API server in a background thread with its own event loop, for tests and demos."""

from __future__ import annotations

import asyncio
import copy
import pathlib
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

import yaml
from aiohttp import web

from leadergroup.sim.builtin import CUSTOM_RESOURCE_DEFINITIONS, NAMESPACES
from leadergroup.sim.faults import Fault, RequestRecord
from leadergroup.sim.server import ApiServer

JsonDict = dict[str, Any]
T = TypeVar("T")
# The emulator has no authentication: bearer tokens only tag requests with a user name.
ADMIN_TOKEN = "admin"  # noqa: S105


def crd_documents(*items: JsonDict | str | pathlib.Path) -> list[JsonDict]:
    """CRDs from dicts or (multi-document) YAML files; other kinds in the files are skipped."""
    documents: list[JsonDict] = []
    for item in items:
        if isinstance(item, dict):
            documents.append(item)
            continue
        with pathlib.Path(item).open(encoding="utf-8") as stream:
            documents.extend(
                document
                for document in yaml.safe_load_all(stream)
                if isinstance(document, dict) and document.get("kind") == CUSTOM_RESOURCE_DEFINITIONS.kind
            )
    return documents


class AsyncEmulator:
    """The emulator on the current event loop (``python -m leadergroup.sim serve`` uses it directly)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bookmark_interval: float = 2.0,
        gc_delay: float = 0.05,
        history_limit: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.api = ApiServer(
            bookmark_interval=bookmark_interval, gc_delay=gc_delay, history_limit=history_limit
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (port 0 picks a free port, then ``port`` is updated)."""
        self._runner = web.AppRunner(self.api.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # With port 0 the OS picked the port: read it back from the bound socket.
        self.port = self._runner.addresses[0][1]
        self.api.server_address = f"{self.host}:{self.port}"

    def kubeconfig(self, token: str = ADMIN_TOKEN, namespace: str = "default") -> JsonDict:
        """A kubeconfig dict for this server, as a user with that bearer token."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": token, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": token, "namespace": namespace},
                }
            ],
        }

    async def stop(self) -> None:
        """End every watch and stop listening."""
        self.api.store.close_subscriptions()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def load_crds(self, *items: JsonDict | str | pathlib.Path) -> list[JsonDict]:
        """Create CRDs exactly as a POST would (call on the loop thread)."""
        return [
            self.api.registry.create(CUSTOM_RESOURCE_DEFINITIONS, "", document)
            for document in crd_documents(*items)
        ]


class Emulator:
    """A Kubernetes API emulator serving plain HTTP on loopback from a background thread.

    Example:
        >>> with Emulator() as emu:
        ...     emu.write_kubeconfig(tmp_path / "kubeconfig", token="operator")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bookmark_interval: float = 2.0,
        gc_delay: float = 0.05,
        history_limit: int = 10_000,
    ) -> None:
        self._emulator = AsyncEmulator(
            host, port, bookmark_interval=bookmark_interval, gc_delay=gc_delay, history_limit=history_limit
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return self._emulator.url

    @property
    def api(self) -> ApiServer:
        """The server internals (store, registry, catalog); touch them only through ``call``."""
        return self._emulator.api

    def start(self) -> Emulator:
        """Start serving in a background thread; returns self once the port is bound."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._emulator.start())
            except BaseException as error:  # report to the starting thread, whatever it is
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._emulator.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name=f"k8s-emulator-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving (ends open watches) and join the thread."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the server's loop thread (atomically with requests) and return its result."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("the emulator is not running; call start() first")

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def kubeconfig(self, token: str = ADMIN_TOKEN, namespace: str = "default") -> JsonDict:
        """A kubeconfig dict for this server, as a user with that bearer token."""
        return self._emulator.kubeconfig(token, namespace)

    def write_kubeconfig(
        self, path: str | pathlib.Path, token: str = ADMIN_TOKEN, namespace: str = "default"
    ) -> pathlib.Path:
        """Write ``kubeconfig(...)`` as YAML to ``path``; returns the path."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(token, namespace), sort_keys=False), encoding="utf-8")
        return path

    def load_crds(self, *items: JsonDict | str | pathlib.Path) -> list[JsonDict]:
        """Create CRDs (dicts or YAML file paths) as a POST would; returns the stored CRDs."""
        return self.call(lambda: self._emulator.load_crds(*items))

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log."""
        return self.api.requests.snapshot()

    def clear_requests(self) -> None:
        """Forget the request log."""
        self.api.requests.clear()

    def inject_fault(
        self,
        verb: str = "update",
        resource: str = "leases",
        status: int | None = 409,
        times: int | None = 3,
        delay: float = 0.0,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        group: str | None = None,
        delay_after: float = 0.0,
    ) -> None:
        """Fail (or, with ``status=None``, delay) the next ``times`` matching requests; see ``Fault``.

        ``delay_after`` (with ``status=None``) applies the request at once and holds its response back.

        Raises:
            ValueError: ``delay_after`` with a ``status``: a refused request has nothing to commit.
        """
        if status is not None and delay_after:
            raise ValueError("delay_after needs status=None: the request must be served to be committed")
        self.api.faults.add(
            Fault(
                verb=verb,
                resource=resource,
                status=status,
                times=times,
                delay=delay,
                namespace=namespace,
                name=name,
                subresource=subresource,
                group=group,
                delay_after=delay_after,
            )
        )

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.api.faults.clear()

    def compact(self) -> None:
        """Forget the watch history: resuming from an older resourceVersion gets 410 Gone."""
        self.call(self.api.store.compact)

    def create_namespace(self, name: str) -> JsonDict:
        """Create a namespace (as a POST would) and return it."""
        return self.call(lambda: self.api.registry.create(NAMESPACES, "", {"metadata": {"name": name}}))

    def objects(self, group: str, plural: str, namespace: str | None = None) -> list[JsonDict]:
        """Deep copies of the stored objects of a resource, for assertions that bypass HTTP.

        Copies, because the store shares its dicts with watch events: changing them would corrupt both.
        """
        return self.call(lambda: copy.deepcopy(self.api.store.objects((group, plural), namespace)))

    def run_all(self, functions: Iterable[Callable[[], Any]]) -> list[Any]:
        """Run several functions on the loop thread in one atomic step."""
        return self.call(lambda: [function() for function in functions])

"""The HTTP face of the emulator: one aiohttp handler that routes like kube-apiserver.

JSON only. Everything that touches the store runs on the server's event loop without awaiting in the
middle of a read-check-write, so each request is atomic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import yaml
from aiohttp import web

from leadergroup.sim import discovery, errors, openapi, tables
from leadergroup.sim.builtin import NAMESPACES
from leadergroup.sim.catalog import Catalog
from leadergroup.sim.faults import FaultBook, RequestLog, RequestRecord
from leadergroup.sim.field_validation import FieldValidation
from leadergroup.sim.gc import GarbageCollector
from leadergroup.sim.paging import Pager
from leadergroup.sim.patch import is_apply
from leadergroup.sim.registry import Registry
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.routing import RequestInfo, accepts_json, authorized_name, bearer_token, parse_request
from leadergroup.sim.scale import serve_scale
from leadergroup.sim.selectors import compile_selectors
from leadergroup.sim.store import Store
from leadergroup.sim.watch import WatchOptions, serve_watch

# A continue token serves only the list it came from: the same collection, selected the same way.
SELECTORS = ("labelSelector", "fieldSelector", "shardSelector")

logger = logging.getLogger(__name__)
JsonDict = dict[str, Any]
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_HEALTH_PATHS = {"/healthz", "/livez", "/readyz"}
# kubectl's generator subcommands (create namespace|deployment|..., run) send protobuf; the same objects
# sent as YAML work. client-go programs can ask for JSON instead.
PROTOBUF_HINT = (
    "; the leadergroup emulator speaks JSON only. For kubectl create <kind> or kubectl run, send the "
    "object as YAML instead: kubectl create namespace x --dry-run=client -o yaml | kubectl apply -f - ; "
    "client-go programs: rest.Config.ContentType = application/json"
)


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _not_served(path: str) -> errors.ApiError:
    return errors.ApiError(
        404,
        "NotFound",
        "the server could not find the requested resource",
        details={
            "causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]
        },
    )


class ApiServer:
    """Store, registry, garbage collector, request log and faults behind one aiohttp handler."""

    def __init__(
        self, *, bookmark_interval: float = 2.0, gc_delay: float = 0.05, history_limit: int = 10_000
    ) -> None:
        self.store = Store(history_limit)
        self.catalog = Catalog()
        self.registry = Registry(self.store, self.catalog, on_change=self._poke_gc)
        # Unexpected exceptions (emulator bugs, not injected faults): tests assert there are none.
        self.internal_errors: list[str] = []
        self.gc = GarbageCollector(self.registry, gc_delay, on_error=self.internal_errors.append)
        self.requests = RequestLog()
        self.faults = FaultBook()
        self.pager = Pager()
        self.bookmark_interval = bookmark_interval
        self.server_address = "127.0.0.1:0"
        for name in INITIAL_NAMESPACES:
            self.registry.create(NAMESPACES, "", {"metadata": {"name": name}})

    def _poke_gc(self) -> None:
        # Without a running loop (bootstrap) nothing can be orphaned yet.
        with contextlib.suppress(RuntimeError):
            self.gc.poke()

    def make_app(self) -> web.Application:
        """The aiohttp application: every path goes through ``handle``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request: log it, apply faults, route it, turn ApiError into a Status response."""
        info = parse_request(request.method, request.path, request.query)
        record = RequestRecord(
            verb=info.verb,
            group=info.group,
            version=info.version,
            resource=info.resource,
            subresource=info.subresource,
            namespace=info.namespace,
            name=authorized_name(info, request.query),
            user=bearer_token(request.headers.get("Authorization")),
            user_agent=request.headers.get("User-Agent", ""),
            status=0,
            time=time.time(),
            path=info.path,
        )
        recorded = False

        def record_now(status: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self.requests.append(RequestRecord(**{**record.__dict__, "status": status}))

        response: web.StreamResponse
        fault = None
        try:
            fault = self.faults.take(record) if info.is_resource else None
            if fault is not None and fault.status is not None:
                raise fault.error(info.resource, info.group, info.name)
            if fault is not None:
                await asyncio.sleep(fault.delay)
            accept = request.headers.get("Accept", "")
            if info.is_resource and not accepts_json(accept):
                raise errors.not_acceptable(accept)
            if info.is_resource:
                response = await self._resource(request, info, lambda: record_now(200))
            else:
                response = self._non_resource(info.path)
        except errors.ApiError as error:
            response = _json(error.status(), error.code, error.headers)
        except ConnectionError:
            raise  # the client went away mid-request (delay faults, timeouts): nobody to answer
        except Exception as error:  # the emulator must answer like a server, never drop the connection
            logger.exception("Emulator failed on %s %s", request.method, request.path_qs)
            self.internal_errors.append(f"{request.method} {request.path_qs}: {error!r}")
            failure = errors.internal_error(f"{type(error).__name__}: {error}")
            response = _json(failure.status(), 500)
        record_now(response.status)
        if fault is not None and fault.delay_after:
            # After logging: a client that gives up waiting must still find its request in the log.
            await asyncio.sleep(fault.delay_after)
        return response

    def _non_resource(self, path: str) -> web.Response:
        normalized = path.rstrip("/") or "/"
        if normalized == "/version":
            return _json(discovery.VERSION_INFO)
        if normalized in _HEALTH_PATHS:
            return web.Response(text="ok")
        if normalized == "/api":
            return _json(discovery.api_versions(self.server_address))
        segments = [segment for segment in normalized.split("/") if segment]
        document: JsonDict | None = None
        if segments[:2] == ["openapi", "v3"]:
            document = openapi.document_for_path(self.catalog, normalized)
        elif segments == ["apis"]:
            document = discovery.api_group_list(self.catalog)
        elif len(segments) == 2 and segments[0] == "apis":
            document = discovery.api_group(self.catalog, segments[1])
        elif len(segments) == 2 and segments[0] == "api":
            document = discovery.api_resource_list(self.catalog, "", segments[1])
        elif len(segments) == 3 and segments[0] == "apis":
            document = discovery.api_resource_list(self.catalog, segments[1], segments[2])
        if document is None:
            raise _not_served(path)  # includes /openapi/v2: not served (documented)
        return _json(document)

    async def _resource(
        self, request: web.Request, info: RequestInfo, on_watch_started: Any
    ) -> web.StreamResponse:
        rtype = self.catalog.lookup(info.group, info.version, info.resource)
        if rtype is None or (info.namespace is not None and not rtype.namespaced):
            raise _not_served(info.path)
        if not info.verb or info.verb not in rtype.verbs:
            raise errors.method_not_allowed(info.verb or request.method, info.path)
        if request.query.get("dryRun"):
            raise errors.bad_request("dryRun is not supported by the leadergroup emulator")
        if (
            info.subresource not in (None, "status", "scale")
            or (info.subresource == "status" and not rtype.status_subresource)
            or (info.subresource == "scale" and rtype.scale is None)
        ):
            raise _not_served(info.path)
        namespace = info.namespace or ""
        if rtype.namespaced and info.name is not None and info.namespace is None:
            raise _not_served(info.path)
        if info.verb in ("list", "watch", "deletecollection"):
            return await self._collection(request, info, rtype, on_watch_started)
        name = info.name or ""
        body = await self._body(request) if info.verb in ("create", "update", "patch", "delete") else None
        if info.subresource == "scale":
            content_type = request.headers.get("Content-Type", "")
            return _json(serve_scale(self.registry, rtype, info.verb, namespace, name, content_type, body))
        if info.verb == "get":
            return _json(self._render(request, rtype, self.registry.get(rtype, namespace, name)))
        if info.verb == "delete":
            return _json(self._delete(request, rtype, namespace, name, body))
        fields = FieldValidation.from_query(request.query.get("fieldValidation"), info.verb)
        status = 200
        if info.verb == "create":
            if rtype.namespaced and info.namespace is None:
                raise errors.method_not_allowed("create", info.path)
            written = self.registry.create(rtype, namespace, body, fields)
            status = 201
        elif info.verb == "update":
            written = self.registry.update(rtype, namespace, name, body, info.subresource, fields)
        else:
            content_type = request.headers.get("Content-Type", "")
            if is_apply(content_type) and not request.query.get("fieldManager"):
                raise errors.invalid(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "fieldManager",
                            "message": "Required value: is required for apply patch",
                        }
                    ],
                )
            absent_before = self.store.get(rtype.storage_key, namespace, name) is None
            written = self.registry.patch(
                rtype, namespace, name, content_type, body, info.subresource, fields
            )
            status = 201 if absent_before and is_apply(content_type) else 200  # apply created it
        response = _json(self._render(request, rtype, written), status)
        for warning in fields.warnings:
            # RFC 7234 warn-code 299, agent "-", the text quoted: what client-go prints as "Warning: ...".
            response.headers.add("Warning", '299 - "{}"'.format(warning.replace('"', '\\"')))
        return response

    def _delete(
        self, request: web.Request, rtype: ResourceType, namespace: str, name: str, body: Any
    ) -> JsonDict:
        options = dict(body) if isinstance(body, dict) else {}
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        obj, deleted_now = self.registry.delete(rtype, namespace, name, options)
        if deleted_now and not rtype.custom:
            # Most built-in registries answer an immediate delete with a Success Status.
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": rtype.group,
                    "kind": rtype.plural,
                    "uid": obj["metadata"]["uid"],
                },
            }
        return self._render(request, rtype, obj)

    async def _collection(
        self, request: web.Request, info: RequestInfo, rtype: ResourceType, on_watch_started: Any
    ) -> web.StreamResponse:
        query = request.query
        selector = compile_selectors(
            query.get("labelSelector"),
            query.get("fieldSelector"),
            rtype.selectable_fields,
            generic_message=not rtype.custom,
        )
        if info.name is not None:  # a watch on one object: GET .../leases/x?watch=1
            by_label = selector
            selector = lambda obj: by_label(obj) and obj["metadata"]["name"] == info.name  # noqa: E731
        if info.verb == "watch":
            accept = request.headers.get("Accept", "")
            if tables.wants_table(accept):

                def render(obj: JsonDict) -> JsonDict:
                    return tables.table(
                        rtype,
                        [obj],
                        obj["metadata"]["resourceVersion"],
                        query.get("includeObject", "Metadata"),
                    )
            else:

                def render(obj: JsonDict) -> JsonDict:
                    return self._convert(rtype, obj)

            return await serve_watch(
                request,
                store=self.store,
                rtype=rtype,
                namespace=info.namespace,
                selector=selector,
                options=WatchOptions.from_query(query),
                render=render,
                bookmark_interval=self.bookmark_interval,
                on_started=on_watch_started,
            )
        if info.verb == "deletecollection":
            # The body is read before the targets are listed: awaiting it in between would let other
            # requests delete some of them, and the list would be stale.
            body = await self._body(request)
            options = dict(body) if isinstance(body, dict) else {}
            if "propagationPolicy" in query:
                options["propagationPolicy"] = query["propagationPolicy"]
            deleted = []
            for obj in self.store.objects(rtype.storage_key, info.namespace):
                if not selector(obj):
                    continue
                try:
                    deleted.append(
                        self.registry.delete(
                            rtype, obj["metadata"].get("namespace") or "", obj["metadata"]["name"], options
                        )[0]
                    )
                except errors.ApiError as error:
                    # Gone already (kube's DeleteCollection skips NotFound too); nothing awaits here, so
                    # this only guards against a deletion cascading to a later target.
                    if error.code != 404:
                        raise
            return _json(self._list(request, rtype, deleted))
        objects = [obj for obj in self.store.objects(rtype.storage_key, info.namespace) if selector(obj)]
        scope = (str(rtype.storage_key), info.namespace or "", *(query.get(key, "") for key in SELECTORS))
        page = self.pager.page(scope, query, objects, str(self.store.resource_version))
        return _json(self._list(request, rtype, page.objects, page.metadata))

    def _list(
        self,
        request: web.Request,
        rtype: ResourceType,
        objects: list[JsonDict],
        metadata: JsonDict | None = None,
    ) -> JsonDict:
        metadata = metadata or {"resourceVersion": str(self.store.resource_version)}
        listed = self._list_body(request, rtype, objects, str(metadata["resourceVersion"]))
        listed["metadata"] = {**listed.get("metadata", {}), **metadata}
        return listed

    def _list_body(
        self, request: web.Request, rtype: ResourceType, objects: list[JsonDict], resource_version: str
    ) -> JsonDict:
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            return tables.table(
                rtype, objects, resource_version, request.query.get("includeObject", "Metadata")
            )
        if tables.wants_partial_metadata(accept):
            return tables.partial_list(objects, resource_version)
        if rtype.custom:
            items = [self._convert(rtype, obj) for obj in objects]
        else:
            # Built-in list items carry no apiVersion/kind on a real server; clients must not rely on them.
            items = [
                {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
                for obj in objects
            ]
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": resource_version},
            "items": items,
        }

    @staticmethod
    def _convert(rtype: ResourceType, obj: JsonDict) -> JsonDict:
        # Custom resource versions share storage; conversion strategy None only rewrites apiVersion.
        if obj.get("apiVersion") == rtype.api_version:
            return obj
        return {**obj, "apiVersion": rtype.api_version}

    def _render(self, request: web.Request, rtype: ResourceType, obj: JsonDict) -> JsonDict:
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            return tables.table(
                rtype,
                [obj],
                obj["metadata"].get("resourceVersion", ""),
                request.query.get("includeObject", "Metadata"),
            )
        if tables.wants_partial_metadata(accept):
            return tables.partial_object(obj)
        return self._convert(rtype, obj)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        if not raw.strip():
            return None
        content_type = request.headers.get("Content-Type", "application/json").lower()
        if "protobuf" in content_type:
            raise errors.unsupported_media_type(
                content_type,
                PROTOBUF_HINT,
            )
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as error:
            raise errors.bad_request(f"couldn't decode the request body: {error}") from error

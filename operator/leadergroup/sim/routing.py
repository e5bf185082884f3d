"""Turning an HTTP request into kube's RequestInfo: verb, API group/version, resource, namespace, name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# kube's strconv.ParseBool spellings, accepted for ?watch=.
TRUE_VALUES = {"1", "t", "T", "true", "TRUE", "True"}
# Namespace subresources: /api/v1/namespaces/{name}/status is not "a resource called status in {name}".
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestInfo:
    """What a request is about. ``is_resource`` is False for /version, /apis, /openapi/... ."""

    verb: str
    path: str
    is_resource: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None


def parse_request(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Parse like kube-apiserver's RequestInfoFactory (unknown HTTP methods get verb ``""``)."""
    segments = [segment for segment in path.split("/") if segment]
    if segments[:1] == ["api"] and len(segments) >= 3:
        group, version, rest = "", segments[1], segments[2:]
    elif segments[:1] == ["apis"] and len(segments) >= 4:
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return RequestInfo(verb=method.lower(), path=path, name=path)
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return RequestInfo(verb=method.lower(), path=path, name=path)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    watching = watch_prefix or query.get("watch", "") in TRUE_VALUES
    if method == "GET":
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, "")
    return RequestInfo(
        verb=verb,
        path=path,
        is_resource=True,
        group=group,
        version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def authorized_name(info: RequestInfo, query: Mapping[str, str]) -> str | None:
    """The object name RBAC sees: a list or watch with ``fieldSelector=metadata.name=X`` names X.

    As kube-apiserver's RequestInfoFactory, so ``resourceNames`` in a Role can allow a single-object watch.
    """
    if info.name or info.verb not in ("list", "watch"):
        return info.name
    for term in (query.get("fieldSelector") or "").split(","):
        key, _, value = term.replace("==", "=").partition("=")
        if key.strip() == "metadata.name" and value.strip() and not key.endswith("!"):
            return value.strip()
    return None


def bearer_token(authorization: str | None) -> str:
    """The user a request is attributed to: its bearer token, or ``system:anonymous``."""
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
        if token:
            return token
    return "system:anonymous"


def accepts_json(accept: str) -> bool:
    """Whether any media range of an Accept header can be answered with JSON."""
    if not accept.strip():
        return True
    for media_range in accept.split(","):
        media_type = media_range.split(";")[0].strip().lower()
        if media_type in ("*/*", "application/*", "application/json"):
            return True
    return False

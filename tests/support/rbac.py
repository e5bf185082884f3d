"""RBAC as the API server evaluates it, for checking recorded requests against the shipped ClusterRole.

``allowed(record, rules)`` answers "would a subject bound (cluster-wide) to these rules be allowed this
request?" with kube-apiserver's rule matching: API group, resource (``resource/subresource`` for
subresources), verb, and ``resourceNames`` (which can only match requests that name an object: never a
create, and a list or watch only with ``fieldSelector=metadata.name=X``, which the emulator records as
naming X, as kube does). Discovery and health paths are granted to every authenticated user by the default
``system:discovery`` and ``system:public-info-viewer`` ClusterRoles, so they count as allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_ROLE_PATH = REPO_ROOT / "manifests" / "clusterrole.yaml"

# Non-resource URLs every authenticated user may GET (system:discovery, system:public-info-viewer).
DEFAULT_NON_RESOURCE_PREFIXES = ("/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz")

Rule = Mapping[str, Any]


class Request(Protocol):
    """What a recorded request must tell (``leadergroup.sim`` RequestRecord has these attributes)."""

    verb: str
    group: str
    resource: str
    subresource: str | None
    name: str | None
    path: str


def load_cluster_role(path: Path = CLUSTER_ROLE_PATH) -> dict[str, Any]:
    """The shipped ClusterRole document."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict) and document.get("kind") == "ClusterRole", path
    return document


def cluster_role_rules(path: Path = CLUSTER_ROLE_PATH) -> list[dict[str, Any]]:
    """The shipped ClusterRole's rules."""
    return list(load_cluster_role(path).get("rules") or [])


def is_non_resource(request: Request) -> bool:
    """Discovery, version, health: requests that are not about an API resource."""
    return not request.resource


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values)
    return "*" in values or wanted in values


def _resource_matches(resources: Sequence[str], resource: str, subresource: str | None) -> bool:
    if "*" in resources:
        return True
    if subresource:
        return f"{resource}/{subresource}" in resources or f"*/{subresource}" in resources
    return resource in resources


def rule_allows(rule: Rule, request: Request) -> bool:
    """Whether one PolicyRule allows the request."""
    if is_non_resource(request):
        urls = rule.get("nonResourceURLs") or []
        path = request.path or request.name or ""
        return _matches(rule.get("verbs") or [], request.verb) and any(
            url == path or (url.endswith("*") and path.startswith(url[:-1])) for url in urls
        )
    if not _matches(rule.get("verbs") or [], request.verb):
        return False
    if not _matches(rule.get("apiGroups") or [], request.group):
        return False
    if not _resource_matches(rule.get("resources") or [], request.resource, request.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or (request.name is not None and request.name in names)


def allowed(request: Request, rules: Iterable[Rule]) -> bool:
    """Whether a subject holding ``rules`` cluster-wide may make ``request``."""
    if is_non_resource(request) and request.verb == "get":
        path = request.path or request.name or ""
        if any(path == prefix or path.startswith(prefix + "/") for prefix in DEFAULT_NON_RESOURCE_PREFIXES):
            return True
    return any(rule_allows(rule, request) for rule in rules)


def describe(request: Request) -> str:
    """``verb group/resource[/subresource] [name]`` for messages."""
    if is_non_resource(request):
        return f"{request.verb} {request.path or request.name}"
    resource = f"{request.group or 'core'}/{request.resource}"
    if request.subresource:
        resource += f"/{request.subresource}"
    return f"{request.verb} {resource}" + (f" {request.name}" if request.name else "")


def denied(requests: Iterable[Request], rules: Iterable[Rule] | None = None) -> list[str]:
    """Descriptions of the requests the rules (default: the shipped ClusterRole) do not allow."""
    rule_list = list(rules) if rules is not None else cluster_role_rules()
    return sorted({describe(r) for r in requests if not allowed(r, rule_list)})


@dataclass(frozen=True)
class Grant:
    """One (API group, resource[/subresource], verb) a ClusterRole grants, maybe for some names only."""

    group: str
    resource: str
    verb: str
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" {list(self.names)}" if self.names else ""
        return f"{self.verb} {self.group or 'core'}/{self.resource}{where}"


def grants(rules: Iterable[Rule]) -> set[Grant]:
    """Every (group, resource, verb[, names]) the rules grant, one per combination."""
    found: set[Grant] = set()
    for rule in rules:
        names = tuple(rule.get("resourceNames") or ())
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    found.add(Grant(group, resource, verb, names))
    return found


def used(grant: Grant, requests: Iterable[Request]) -> bool:
    """Whether any request needed this grant."""
    rule = {
        "apiGroups": [grant.group],
        "resources": [grant.resource],
        "verbs": [grant.verb],
        "resourceNames": list(grant.names),
    }
    return any(not is_non_resource(r) and rule_allows(rule, r) for r in requests)

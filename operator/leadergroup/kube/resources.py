"""API coordinates of the resources the project reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

from leadergroup import constants


@dataclass(frozen=True)
class Resource:
    """One Kubernetes resource type: where it lives in the API and what it is called."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of objects of this resource (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The URL path of the collection, or of one object (and one of its subresources)."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if self.namespaced and namespace is not None:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if subresource is not None:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
EVENTS = Resource("", "v1", "events", "Event")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
DISRUPTION_BUDGETS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)
LEADERGROUPS = Resource(constants.GROUP, constants.VERSION, constants.PLURAL, constants.KIND)

_BY_API_VERSION_KIND = {
    (r.api_version, r.kind): r
    for r in (
        NAMESPACES,
        PODS,
        SERVICES,
        SERVICE_ACCOUNTS,
        EVENTS,
        DEPLOYMENTS,
        ROLES,
        ROLE_BINDINGS,
        LEASES,
        DISRUPTION_BUDGETS,
        CRDS,
        LEADERGROUPS,
    )
}


def resource_for(body: dict[str, object]) -> Resource:
    """The resource of an object body, from its ``apiVersion`` and ``kind``.

    Raises:
        KeyError: the kind is not one this project handles.
    """
    return _BY_API_VERSION_KIND[(str(body.get("apiVersion")), str(body.get("kind")))]

"""The built-in resources the emulator serves, and the defaults kube applies to them on every write.

Table columns of pods, services, deployments, replicasets, budgets, config maps, secrets and bindings
come from kube's own printers (:mod:`leadergroup.sim.printers`); the others' are declared here.

Defaulting matters for tests: an operator that compares its desired Deployment with the stored one must
see the same defaulted fields (``imagePullPolicy``, ``strategy``, ...) it would see on a real cluster.
Only the commonly defaulted fields are filled in; see docs/testing.md.
"""

from __future__ import annotations

from typing import Any

from leadergroup.sim.resources import PrinterColumn, ResourceType, ScaleSpec

AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")

NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    False,
    short_names=("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    status_subresource=True,
    selectable_fields=("status.phase",),
    printer_columns=(PrinterColumn("Status", "string", ".status.phase"), AGE),
)
PODS = ResourceType(
    "",
    "v1",
    "pods",
    "pod",
    "Pod",
    True,
    short_names=("po",),
    categories=("all",),
    status_subresource=True,
    selectable_fields=(
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
    ),
)
SERVICES = ResourceType(
    "",
    "v1",
    "services",
    "service",
    "Service",
    True,
    short_names=("svc",),
    categories=("all",),
    status_subresource=True,
)
DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "deployment",
    "Deployment",
    True,
    short_names=("deploy",),
    categories=("all",),
    status_subresource=True,
    generation=True,
    scale=ScaleSpec(".spec.replicas", ".status.replicas", None),
)
REPLICASETS = ResourceType(
    "apps",
    "v1",
    "replicasets",
    "replicaset",
    "ReplicaSet",
    True,
    short_names=("rs",),
    categories=("all",),
    status_subresource=True,
    generation=True,
    scale=ScaleSpec(".spec.replicas", ".status.replicas", None),
)
LEASES = ResourceType(
    "coordination.k8s.io",
    "v1",
    "leases",
    "lease",
    "Lease",
    True,
    unconditional_update=False,
    printer_columns=(PrinterColumn("Holder", "string", ".spec.holderIdentity"), AGE),
)
CUSTOM_RESOURCE_DEFINITIONS = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "customresourcedefinition",
    "CustomResourceDefinition",
    False,
    short_names=("crd", "crds"),
    categories=("api-extensions",),
    status_subresource=True,
    generation=True,
    unconditional_update=False,
    printer_columns=(PrinterColumn("Created At", "date", ".metadata.creationTimestamp"),),
)
SELF_SUBJECT_ACCESS_REVIEWS = ResourceType(
    "authorization.k8s.io",
    "v1",
    "selfsubjectaccessreviews",
    "selfsubjectaccessreview",
    "SelfSubjectAccessReview",
    False,
    verbs=("create",),
    virtual=True,
)

_PLAIN = [
    ("", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    ("", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ("", "secrets", "secret", "Secret", True, ()),
    ("", "events", "event", "Event", True, ("ev",)),
    ("events.k8s.io", "events", "event", "Event", True, ("ev",)),
    ("rbac.authorization.k8s.io", "roles", "role", "Role", True, ()),
    ("rbac.authorization.k8s.io", "rolebindings", "rolebinding", "RoleBinding", True, ()),
    ("rbac.authorization.k8s.io", "clusterroles", "clusterrole", "ClusterRole", False, ()),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        False,
        (),
    ),
]

PODDISRUPTIONBUDGETS = ResourceType(
    "policy",
    "v1",
    "poddisruptionbudgets",
    "poddisruptionbudget",
    "PodDisruptionBudget",
    True,
    short_names=("pdb",),
    status_subresource=True,
    generation=True,
    unconditional_update=False,
)


def builtin_types() -> list[ResourceType]:
    """Every built-in resource, one served version each."""
    plain = [
        ResourceType(
            group,
            "v1",
            plural,
            singular,
            kind,
            namespaced,
            short_names=shorts,
            printer_columns=(AGE,),
            selectable_fields=(
                (
                    "involvedObject.kind",
                    "involvedObject.name",
                    "involvedObject.uid",
                    "involvedObject.namespace",
                    "reason",
                    "type",
                )
                if plural == "events" and not group
                else ("type",)
                if plural == "secrets"
                else ()
            ),
        )
        for group, plural, singular, kind, namespaced, shorts in _PLAIN
    ]
    return [
        NAMESPACES,
        PODS,
        SERVICES,
        DEPLOYMENTS,
        REPLICASETS,
        LEASES,
        PODDISRUPTIONBUDGETS,
        CUSTOM_RESOURCE_DEFINITIONS,
        SELF_SUBJECT_ACCESS_REVIEWS,
        *plain,
    ]


def apply_defaults(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Fill in kube's defaults for the built-in kinds that have them (in place, on a fresh copy)."""
    spec = obj.get("spec")
    if rtype.storage_key == ("apps", "deployments") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
        _default_pod_template(spec.get("template"))
    elif rtype.storage_key == ("apps", "replicasets") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _default_pod_template(spec.get("template"))
    elif rtype.storage_key == ("", "pods") and isinstance(spec, dict):
        _default_pod_spec(spec)
    elif rtype.storage_key == ("", "services") and isinstance(spec, dict):
        _default_service_spec(spec)
    elif rtype.storage_key == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif rtype.storage_key == ("", "secrets"):
        obj.setdefault("type", "Opaque")


def _default_pod_template(template: Any) -> None:
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            _default_pod_spec(template["spec"])


def _default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if "serviceAccountName" in spec:
        # kube keeps the deprecated alias in sync.
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _default_container(container)


def _default_container(container: dict[str, Any]) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    image = str(container.get("image", ""))
    last_segment = image.rsplit("/", 1)[-1]
    untagged_or_latest = "@" not in image and (":" not in last_segment or last_segment.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if untagged_or_latest else "IfNotPresent")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in container.get("env") or []:
        field_ref = env.get("valueFrom", {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def _default_service_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))

"""kube-apiserver's generic registry semantics on top of the store: create, update, patch, delete.

Each method is synchronous and atomic on the event loop (see ``store``). Rules follow kube-apiserver:
metadata the server owns, optimistic concurrency, status subresource isolation, generation, no-op writes
that keep the resourceVersion, finalizers and graceful deletion, namespaces, CRDs.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

from leadergroup.sim import errors
from leadergroup.sim.admission import admit_custom_resource
from leadergroup.sim.builtin import LEASES, NAMESPACES, apply_defaults
from leadergroup.sim.catalog import Catalog, crd_resource_types
from leadergroup.sim.field_validation import FieldValidation
from leadergroup.sim.objects import SYSTEM_METADATA, generate_name, name_causes, now_timestamp, spec_changed
from leadergroup.sim.patch import STRATEGIC, apply_patch, check_patch_type, is_apply
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.store import Store
from leadergroup.sim.strategies import CRD_KEY, Strategies
from leadergroup.sim.validation import as_status_causes, lease_causes, metadata_causes

JsonDict = dict[str, Any]
NAMESPACE_KEY = NAMESPACES.storage_key


class Registry:
    """Object lifecycle rules. ``on_change`` is called when garbage collection may have work to do."""

    def __init__(self, store: Store, catalog: Catalog, on_change: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.catalog = catalog
        self.on_change = on_change
        self.strategies = Strategies()

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str, name: str) -> JsonDict:
        """The object, or 404."""
        obj = self.store.get(rtype.storage_key, namespace, name)
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    # -- create ------------------------------------------------------------------------------------------

    def create(
        self, rtype: ResourceType, namespace: str, body: Any, fields: FieldValidation | None = None
    ) -> JsonDict:
        """POST: fill in server-owned metadata and store; 409 if the name is taken."""
        obj = self._check_body(rtype, body)
        if rtype.virtual:
            return self._review(obj)
        (fields or FieldValidation()).check(rtype, obj)
        metadata = obj["metadata"]
        self._check_namespace(rtype, namespace, metadata)
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "metadata.name",
                            "message": "Required value: name or generateName is required",
                        }
                    ],
                )
            metadata["name"] = generate_name(prefix)
            while self.store.get(rtype.storage_key, namespace, metadata["name"]) is not None:
                metadata["name"] = generate_name(prefix)
        name = metadata["name"]
        if causes := name_causes(rtype, name):
            raise errors.invalid(rtype.kind, rtype.group, name, causes)
        if rtype.namespaced:
            self._require_live_namespace(rtype, namespace, name)
        if self.store.get(rtype.storage_key, namespace, name) is not None:
            raise errors.already_exists(rtype.plural, rtype.group, name)
        for key in (*SYSTEM_METADATA, "resourceVersion", "generation"):
            metadata.pop(key, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_timestamp()
        if rtype.generation:
            metadata["generation"] = 1
        if rtype.status_subresource:
            # Create cannot set status (kube resets it), except the phase kube itself initialises.
            obj.pop("status", None)
            if not rtype.custom:
                obj["status"] = {"phase": "Pending"} if rtype.storage_key == ("", "pods") else {}
        self._prepare(rtype, obj, None)
        metadata["resourceVersion"] = str(self.store.next_resource_version())
        self.store.commit(rtype.storage_key, "ADDED", obj, None)
        self._after_write(rtype, obj)
        if metadata.get("ownerReferences"):
            self.on_change()
        return obj

    # -- update / patch ----------------------------------------------------------------------------------

    def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str | None = None,
        fields: FieldValidation | None = None,
    ) -> JsonDict:
        """PUT of the object or its /status."""
        current = self.get(rtype, namespace, name)
        candidate = self._check_body(rtype, body)
        (fields or FieldValidation()).check(rtype, candidate)
        if candidate["metadata"].get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({candidate['metadata']['name']}) does not match "
                f"the name on the URL ({name})"
            )
        self._check_namespace(rtype, namespace, candidate["metadata"])
        if not candidate["metadata"].get("resourceVersion") and not rtype.unconditional_update:
            # The type's strategy refuses unconditional updates (AllowUnconditionalUpdate false).
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "metadata.resourceVersion",
                        "message": "Invalid value: 0: must be specified for an update",
                    }
                ],
            )
        return self._write(rtype, current, candidate, subresource)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None = None,
        fields: FieldValidation | None = None,
    ) -> JsonDict:
        """PATCH of the object or its /status (the patch applies to the whole stored object)."""
        check_patch_type(content_type, rtype.custom)
        if content_type.split(";")[0].strip().lower() == STRATEGIC:
            (fields or FieldValidation()).check_strategic_patch(rtype, patch)
        if is_apply(content_type) and self.store.get(rtype.storage_key, namespace, name) is None:
            # Server-side apply of an object that does not exist yet creates it.
            body = dict(patch) if isinstance(patch, dict) else patch
            if isinstance(body, dict):
                body["metadata"] = {**(body.get("metadata") or {}), "name": name}
            return self.create(rtype, namespace, body, fields)
        current = self.get(rtype, namespace, name)
        patched = apply_patch(content_type, current, patch, custom=rtype.custom)
        metadata = patched.get("metadata")
        if not isinstance(metadata, dict):
            patched["metadata"] = metadata = {}
        (fields or FieldValidation()).check(rtype, patched)
        if metadata.get("name", name) != name or metadata.get("namespace", namespace or None) not in (
            namespace or None,
            namespace,
        ):
            raise errors.bad_request(
                "the patch changes metadata.name or metadata.namespace, which is not allowed"
            )
        return self._write(rtype, current, patched, subresource)

    def write(self, rtype: ResourceType, current: JsonDict, candidate: JsonDict) -> JsonDict:
        """Store a modified copy of ``current`` (for the garbage collector and /scale)."""
        return self._write(rtype, current, candidate, None)

    def _write(
        self, rtype: ResourceType, current: JsonDict, candidate: JsonDict, subresource: str | None
    ) -> JsonDict:
        current_metadata = current["metadata"]
        name = current_metadata["name"]
        requested_version = candidate["metadata"].get("resourceVersion")
        if requested_version and requested_version != current_metadata["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name)
        if subresource == "status":
            new = copy.deepcopy(current)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            if rtype.status_subresource:
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
        metadata = new["metadata"]
        for key in SYSTEM_METADATA:
            metadata.pop(key, None)
            if key in current_metadata:
                metadata[key] = current_metadata[key]
        metadata["name"] = name
        if rtype.namespaced:
            metadata["namespace"] = current_metadata["namespace"]
        if current_metadata.get("deletionTimestamp"):
            added = set(metadata.get("finalizers") or []) - set(current_metadata.get("finalizers") or [])
            if added:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    name,
                    [
                        {
                            "reason": "FieldValueForbidden",
                            "field": "metadata.finalizers",
                            "message": "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                        }
                    ],
                )
        self._prepare(rtype, new, current)
        if rtype.generation:
            generation = current_metadata.get("generation", 1)
            metadata["generation"] = generation + 1 if spec_changed(rtype, current, new) else generation
        metadata["resourceVersion"] = current_metadata["resourceVersion"]
        if not metadata.get("finalizers"):
            metadata.pop("finalizers", None)
        if new == current:
            return current  # a no-op write keeps the resourceVersion and notifies nobody
        metadata["resourceVersion"] = str(self.store.next_resource_version())
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self.store.commit(rtype.storage_key, "DELETED", new, current)
            self._after_delete(rtype, new)
            return new
        self.store.commit(rtype.storage_key, "MODIFIED", new, current)
        self._after_write(rtype, new)
        if metadata.get("ownerReferences") != current_metadata.get("ownerReferences"):
            self.on_change()
        return new

    # -- delete ------------------------------------------------------------------------------------------

    def delete(
        self, rtype: ResourceType, namespace: str, name: str, options: JsonDict | None = None
    ) -> tuple[JsonDict, bool]:
        """DELETE: returns (object, deleted_now). Finalizers or a terminating namespace defer the removal."""
        options = options or {}
        current = self.get(rtype, namespace, name)
        metadata = current["metadata"]
        preconditions = options.get("preconditions") or {}
        for field in ("uid", "resourceVersion"):
            expected = preconditions.get(field)
            if expected and expected != metadata.get(field):
                raise errors.conflict(
                    rtype.plural,
                    rtype.group,
                    name,
                    (
                        f"Precondition failed: {field.upper() if field == 'uid' else 'ResourceVersion'} in "
                        f"precondition: {expected}, {field.upper() if field == 'uid' else 'ResourceVersion'} "
                        f"in object meta: {metadata.get(field)}"
                    ),
                )
        if options.get("propagationPolicy") == "Orphan" or options.get("orphanDependents") is True:
            self._orphan_dependents(metadata["uid"])
        if metadata.get("finalizers") or rtype.storage_key == NAMESPACE_KEY:
            return self._mark_deleted(rtype, current), False
        return self.remove(rtype, current), True

    def remove(self, rtype: ResourceType, current: JsonDict) -> JsonDict:
        """Remove an object now (no finalizer checks); the DELETED event carries a new resourceVersion."""
        final = copy.deepcopy(current)
        final["metadata"]["resourceVersion"] = str(self.store.next_resource_version())
        self.store.commit(rtype.storage_key, "DELETED", final, current)
        self._after_delete(rtype, final)
        return final

    def _mark_deleted(self, rtype: ResourceType, current: JsonDict) -> JsonDict:
        if current["metadata"].get("deletionTimestamp"):
            return current
        new = copy.deepcopy(current)
        new["metadata"]["deletionTimestamp"] = now_timestamp()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if rtype.generation:
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if rtype.storage_key == NAMESPACE_KEY:
            new.setdefault("status", {})["phase"] = "Terminating"
        new["metadata"]["resourceVersion"] = str(self.store.next_resource_version())
        self.store.commit(rtype.storage_key, "MODIFIED", new, current)
        if rtype.storage_key == NAMESPACE_KEY:
            self._empty_namespace(new["metadata"]["name"])
            self.on_change()
        return new

    def _empty_namespace(self, namespace: str) -> None:
        for storage_key, obj in self.store.all_objects():
            rtype = self.catalog.preferred(*storage_key)
            if rtype is not None and rtype.namespaced and obj["metadata"].get("namespace") == namespace:
                self.delete(rtype, namespace, obj["metadata"]["name"])

    def _orphan_dependents(self, owner_uid: str) -> None:
        for storage_key, obj in self.store.all_objects():
            references = obj["metadata"].get("ownerReferences") or []
            kept = [ref for ref in references if ref.get("uid") != owner_uid]
            rtype = self.catalog.preferred(*storage_key)
            if len(kept) != len(references) and rtype is not None:
                candidate = copy.deepcopy(obj)
                candidate["metadata"]["ownerReferences"] = kept
                if not kept:
                    del candidate["metadata"]["ownerReferences"]
                self.write(rtype, obj, candidate)

    # -- helpers -----------------------------------------------------------------------------------------

    def _check_body(self, rtype: ResourceType, body: Any) -> JsonDict:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        for field, expected in (("apiVersion", rtype.api_version), ("kind", rtype.kind)):
            value = obj.get(field)
            if value and value != expected:
                raise errors.bad_request(
                    f"the {'API version' if field == 'apiVersion' else 'kind'} in the data "
                    f"({value}) does not match the expected {field} ({expected})"
                )
            obj[field] = expected
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        # kube serializes apiVersion, kind and metadata first; keep that order for readable output.
        return {
            "apiVersion": obj.pop("apiVersion"),
            "kind": obj.pop("kind"),
            "metadata": obj.pop("metadata"),
            **obj,
        }

    @staticmethod
    def _check_namespace(rtype: ResourceType, namespace: str, metadata: JsonDict) -> None:
        if not rtype.namespaced:
            metadata.pop("namespace", None)
            return
        given = metadata.get("namespace")
        if given and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        metadata["namespace"] = namespace

    def _require_live_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        namespace_obj = self.store.get(NAMESPACE_KEY, "", namespace)
        if namespace_obj is None:
            raise errors.not_found("namespaces", "", namespace)
        if namespace_obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                rtype.plural,
                rtype.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _prepare(self, rtype: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
        """Defaulting, type-specific rules, validation and schema admission, in place."""
        apply_defaults(rtype, obj)
        self.strategies.prepare(rtype, obj, old)
        causes = metadata_causes(obj["metadata"])
        if rtype.storage_key == LEASES.storage_key:
            causes.extend(lease_causes(obj))
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, obj["metadata"]["name"], as_status_causes(causes))
        if rtype.custom:
            admitted = admit_custom_resource(rtype, obj, old)
            obj.clear()
            obj.update(admitted)

    def _after_write(self, rtype: ResourceType, obj: JsonDict) -> None:
        if rtype.storage_key == CRD_KEY:
            spec = obj["spec"]
            self.catalog.remove(spec["group"], spec["names"]["plural"])
            for served in crd_resource_types(obj):
                self.catalog.add(served)

    def _after_delete(self, rtype: ResourceType, obj: JsonDict) -> None:
        if rtype.storage_key == CRD_KEY:
            group, plural = obj["spec"]["group"], obj["spec"]["names"]["plural"]
            for custom in self.store.objects((group, plural)):
                final = copy.deepcopy(custom)
                final["metadata"]["resourceVersion"] = str(self.store.next_resource_version())
                self.store.commit((group, plural), "DELETED", final, custom)
            self.catalog.remove(group, plural)
        self.on_change()

    @staticmethod
    def _review(review: JsonDict) -> JsonDict:
        # No RBAC here: every access review is allowed (documented gap).
        review["status"] = {"allowed": True, "reason": "the leadergroup emulator does not authorize requests"}
        review["metadata"].setdefault("creationTimestamp", None)
        return review

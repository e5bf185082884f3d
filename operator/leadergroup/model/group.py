"""LeaderGroup: the validated view of one object, and the rules that need its name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from leadergroup import constants
from leadergroup.model.errors import SpecError, describe_validation_error
from leadergroup.model.spec import LeaderGroupSpec

MAX_LABEL_VALUE_LENGTH = 63
# Service names are DNS-1035 labels (at most 63 characters) and the leader Service appends "-leader".
MAX_NAME_WITH_LEADER_SERVICE = MAX_LABEL_VALUE_LENGTH - len(constants.leader_service_name(""))


class LeaderGroup(BaseModel):
    """The validated view of one LeaderGroup object: what the builders need, nothing else."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    uid: str
    generation: int
    spec: LeaderGroupSpec

    @property
    def lock_name(self) -> str:
        """The name of the group's Lease: spec.lockName, or metadata.name when unset."""
        return self.spec.lock_name or self.name

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> LeaderGroup:
        """Validate a LeaderGroup object as the API server returns it.

        Args:
            body: The whole object (apiVersion, kind, metadata, spec, ...).

        Returns:
            The validated LeaderGroup.

        Raises:
            SpecError: The object cannot be acted on; the message says which field to fix and how.
        """
        metadata = body.get("metadata")
        if not isinstance(metadata, Mapping):
            raise SpecError("metadata: Field required")
        name, namespace, uid = (_required_string(metadata, key) for key in ("name", "namespace", "uid"))
        spec_body = body.get("spec")
        if not isinstance(spec_body, Mapping):
            raise SpecError("spec: Field required: a LeaderGroup needs at least spec.template")
        try:
            spec = LeaderGroupSpec.model_validate(spec_body)
        except ValidationError as error:
            raise SpecError(describe_validation_error(error, prefix="spec")) from None
        problem = find_name_problem(spec, name)
        if problem:
            raise SpecError(problem)
        generation = metadata.get("generation")
        return cls(
            name=name,
            namespace=namespace,
            uid=uid,
            generation=generation if isinstance(generation, int) else 0,
            spec=spec,
        )


def _required_string(metadata: Mapping[str, Any], key: str) -> str:
    value = metadata.get(key)
    if not isinstance(value, str) or not value:
        raise SpecError(f"metadata.{key}: Field required")
    return value


def find_name_problem(spec: LeaderGroupSpec, name: str) -> str | None:
    """The first conflict between the spec and the group's name, as a user-facing message, or None.

    Args:
        spec: The validated spec.
        name: The group's metadata.name.

    Returns:
        The message, or None when the spec fits the name.
    """
    if len(name) > MAX_LABEL_VALUE_LENGTH:
        return (
            f"metadata.name: must be at most {MAX_LABEL_VALUE_LENGTH} characters: it becomes the "
            f"{constants.LABEL_GROUP} label value on every child"
        )
    if spec.leader_service is not None:
        service = constants.leader_service_name(name)
        if len(name) > MAX_NAME_WITH_LEADER_SERVICE:
            return (
                f"metadata.name: must be at most {MAX_NAME_WITH_LEADER_SERVICE} characters with "
                f"leaderService: the Service name {service!r} would exceed 63 characters"
            )
        if not name[0].isalpha():
            return (
                f"metadata.name: must start with a letter with leaderService: the Service name {service!r} "
                f"must be a DNS-1035 label"
            )
    labels = (spec.template.get("metadata") or {}).get("labels") or {}
    group_label = labels.get(constants.LABEL_GROUP)
    if group_label is not None and group_label != name:
        return (
            f"spec.template.metadata.labels: {constants.LABEL_GROUP} must be unset or equal to metadata.name "
            f"({name!r}), not {group_label!r}: the Deployment selects its pods by this label"
        )
    pod_spec = spec.template.get("spec") or {}
    own_account = constants.service_account_name(name)
    for field in ("serviceAccountName", "serviceAccount"):
        account = pod_spec.get(field)
        if account not in (None, "", own_account):
            return (
                f"spec.template.spec.{field}: must be unset or {own_account!r}, not {account!r}: the pods "
                f"must run as the group's own ServiceAccount, the only one allowed to update the Lease"
            )
    return None

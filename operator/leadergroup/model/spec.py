"""The spec of a LeaderGroup: one model per object of ``spec`` in ``crds/leadergroup.yaml``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from leadergroup import constants
from leadergroup.model.errors import NestedFieldError
from leadergroup.model.template import find_template_problem

DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MAX_REPLICAS = 100
MAX_PORTS = 20
INT32_MAX = 2**31 - 1

# The CRD's CEL messages; the operator repeats them word for word when it finds the same problem itself.
LEASE_LONGER_THAN_RENEW_MESSAGE = (
    "leaseDurationSeconds must be greater than renewDeadlineSeconds: the leader has to give up before its "
    "Lease expires, or two leaders can overlap"
)
RENEW_LONGER_THAN_RETRIES_MESSAGE = (
    "renewDeadlineSeconds must be greater than 1.2 * retryPeriodSeconds: the leader needs room for more "
    "than one renewal attempt before it gives up"
)
LOCK_NAME_IMMUTABLE_MESSAGE = "lockName is immutable: delete and recreate the LeaderGroup to change the lock"
ELECTOR_CONTAINER_MESSAGE = "failover.electorContainer must be the name of one of template.spec.containers"

PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]


class SpecModel(BaseModel):
    """Base of the spec models: camelCase on the wire, no type coercion (the API server does none)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, strict=True, frozen=True, extra="ignore"
    )


class ElectionSpec(SpecModel):
    """The leader-election timings every replica uses (client-go's LeaderElectionConfig)."""

    lease_duration_seconds: PositiveInt32 = constants.DEFAULT_LEASE_DURATION
    renew_deadline_seconds: PositiveInt32 = constants.DEFAULT_RENEW_DEADLINE
    retry_period_seconds: PositiveInt32 = constants.DEFAULT_RETRY_PERIOD

    @model_validator(mode="after")
    def _timings_follow_client_go(self) -> ElectionSpec:
        """Enforce client-go's LD > RD > 1.2·RP, which electors would otherwise fail on at startup."""
        got = (
            f"(got leaseDurationSeconds={self.lease_duration_seconds}, "
            f"renewDeadlineSeconds={self.renew_deadline_seconds}, "
            f"retryPeriodSeconds={self.retry_period_seconds})"
        )
        if self.lease_duration_seconds <= self.renew_deadline_seconds:
            raise ValueError(f"{LEASE_LONGER_THAN_RENEW_MESSAGE} {got}")
        # In integers, exactly like the CEL rule, so both judge the boundary the same way.
        if self.renew_deadline_seconds * 10 <= self.retry_period_seconds * 12:
            raise ValueError(f"{RENEW_LONGER_THAN_RETRIES_MESSAGE} {got}")
        return self


class LeaderServicePort(SpecModel):
    """One port of the leader Service."""

    name: Annotated[str, Field(max_length=63)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)]
    target_port: int | str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"

    @field_validator("target_port")
    @classmethod
    def _target_port_is_a_port(cls, value: int | str | None) -> int | str | None:
        """Reject what the Service would reject: numbers out of range and empty names."""
        if isinstance(value, int) and not 1 <= value <= 65535:
            raise ValueError(f"must be a port number between 1 and 65535, not {value}")
        if isinstance(value, str) and not value:
            raise ValueError("must be a port number or the name of a container port, not empty")
        return value


class LeaderServiceSpec(SpecModel):
    """A Service that routes only to the pod holding the Lease."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    ports: Annotated[list[LeaderServicePort], Field(min_length=1, max_length=MAX_PORTS)]

    @field_validator("ports")
    @classmethod
    def _ports_are_distinguishable(cls, ports: list[LeaderServicePort]) -> list[LeaderServicePort]:
        """A Service with several ports needs a unique name on each, and unique port/protocol pairs."""
        names: set[str] = set()
        ports_and_protocols: set[tuple[int, str]] = set()
        for index, port in enumerate(ports):
            if len(ports) > 1 and not port.name:
                raise NestedFieldError(
                    f"[{index}].name", "Field required when the Service has more than one port"
                )
            if port.name and port.name in names:
                raise NestedFieldError(f"[{index}].name", f"{port.name!r} is the name of another port")
            if (port.port, port.protocol) in ports_and_protocols:
                raise NestedFieldError(f"[{index}]", f"{port.port}/{port.protocol} is listed twice")
            names.add(port.name or "")
            ports_and_protocols.add((port.port, port.protocol))
        return ports


class FailoverSpec(SpecModel):
    """How the operator speeds up failover: the signals that prove the holder's elector is dead."""

    release_on_holder_deletion: bool = True
    release_on_elector_exit: bool = True
    elector_container: Annotated[str, Field(max_length=63, pattern=DNS1123_LABEL_PATTERN)] | None = None


class PlacementSpec(SpecModel):
    """Where the replicas run and how voluntary disruptions treat them."""

    spread_across_nodes: bool = True
    disruption_budget: bool = True


class FlappingSpec(SpecModel):
    """When the group counts as Flapping: more than max_transitions holder changes within window_seconds."""

    # At most 9: the status keeps the last 10 holder changes, from which the window is counted.
    max_transitions: Annotated[int, Field(ge=1, le=9)] = 5
    window_seconds: PositiveInt32 = 600


class LeaderGroupSpec(SpecModel):
    """The desired state of a LeaderGroup."""

    lock_name: Annotated[str, Field(max_length=253, pattern=DNS1123_SUBDOMAIN_PATTERN)] | None = None
    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] = constants.DEFAULT_REPLICAS
    election: ElectionSpec = Field(default_factory=ElectionSpec)
    # Kept as the user wrote it: it is passed through to the Deployment, which validates the rest.
    template: dict[str, Any]
    leader_service: LeaderServiceSpec | None = None
    failover: FailoverSpec = Field(default_factory=FailoverSpec)
    placement: PlacementSpec = Field(default_factory=PlacementSpec)
    flapping: FlappingSpec = Field(default_factory=FlappingSpec)

    @field_validator("template")
    @classmethod
    def _template_is_usable(cls, template: dict[str, Any]) -> dict[str, Any]:
        """Check the parts of the pod template the operator relies on or that would break the group."""
        problem = find_template_problem(template)
        if problem:
            raise problem
        return template

    @model_validator(mode="after")
    def _elector_container_exists(self) -> LeaderGroupSpec:
        wanted = self.failover.elector_container
        names = [c.get("name") for c in self.template.get("spec", {}).get("containers") or []]
        if wanted is not None and wanted not in names:
            known = ", ".join(map(str, names))
            raise ValueError(f"{ELECTOR_CONTAINER_MESSAGE} ({wanted!r} is not one of {known})")
        return self

    @property
    def elector_container(self) -> str:
        """The container that runs the elector: ``failover.electorContainer``, else the first one."""
        if self.failover.elector_container:
            return self.failover.elector_container
        return str(self.template["spec"]["containers"][0]["name"])

"""The status of a LeaderGroup, written by the operator through the /status subresource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_RECENT_TRANSITIONS = 10
MAX_CONDITIONS = 16

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class StatusModel(BaseModel):
    """Base of the status models: camelCase on the wire, timestamps parsed from RFC 3339 strings."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class Condition(StatusModel):
    """A status condition, shaped like metav1.Condition."""

    type: Annotated[str, Field(max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, Field(max_length=1024)]
    message: Annotated[str, Field(max_length=32768)]
    last_transition_time: datetime
    observed_generation: Annotated[int, Field(ge=0)] | None = None


class Transition(StatusModel):
    """One change of the Lease holder; an empty holder means the Lease was released."""

    holder: str
    time: datetime


class LeaderGroupStatus(StatusModel):
    """The observed state of a LeaderGroup."""

    holder: str | None = None
    lease_transitions: Int32 | None = None
    last_transition_time: datetime | None = None
    leaderless_since: datetime | None = None
    recent_transitions: Annotated[list[Transition], Field(max_length=MAX_RECENT_TRANSITIONS)] | None = None
    replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    ready: str | None = None
    state: str | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)] | None = None

"""The LeaderGroup API as pydantic models, validated once per event.

The models mirror ``crds/leadergroup.yaml`` field for field (tests/schema proves it). On top of the schema,
:meth:`LeaderGroup.from_body` judges what only the operator can: rules that need ``metadata.name``, rules
the API server cannot express, and everything again for objects stored before the CRD had validation.
Whatever it refuses raises :class:`SpecError`, whose message names the field and says what to fix.
"""

from __future__ import annotations

from leadergroup.model.errors import SpecError
from leadergroup.model.group import LeaderGroup
from leadergroup.model.spec import (
    ELECTOR_CONTAINER_MESSAGE,
    LEASE_LONGER_THAN_RENEW_MESSAGE,
    LOCK_NAME_IMMUTABLE_MESSAGE,
    RENEW_LONGER_THAN_RETRIES_MESSAGE,
    ElectionSpec,
    FailoverSpec,
    FlappingSpec,
    LeaderGroupSpec,
    LeaderServicePort,
    LeaderServiceSpec,
    PlacementSpec,
)
from leadergroup.model.status import Condition, LeaderGroupStatus, Transition

__all__ = [
    "ELECTOR_CONTAINER_MESSAGE",
    "LEASE_LONGER_THAN_RENEW_MESSAGE",
    "LOCK_NAME_IMMUTABLE_MESSAGE",
    "RENEW_LONGER_THAN_RETRIES_MESSAGE",
    "Condition",
    "ElectionSpec",
    "FailoverSpec",
    "FlappingSpec",
    "LeaderGroup",
    "LeaderGroupSpec",
    "LeaderGroupStatus",
    "LeaderServicePort",
    "LeaderServiceSpec",
    "PlacementSpec",
    "SpecError",
    "Transition",
]

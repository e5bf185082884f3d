"""Names shared by the operator, the elector and the tests: API coordinates, labels, child names."""

from __future__ import annotations

GROUP = "leadergroup.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LeaderGroup"
PLURAL = "leadergroups"
SINGULAR = "leadergroup"
SHORT_NAME = "lg"

MANAGER = "leadergroup-operator"

# Labels on every child: kubectl users filter on the standard one, the operator on its own.
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_GROUP = f"{GROUP}/group"
# On pods: which replica holds the Lease (issue "leader-aware groups").
LABEL_ROLE = f"{GROUP}/role"
ROLE_LEADER = "leader"
ROLE_FOLLOWER = "follower"

# Env injected into every container of the group's pods.
ENV_POD_NAME = "POD_NAME"
ENV_POD_NAMESPACE = "POD_NAMESPACE"
ENV_LEASE_NAME = "LEASE_NAME"
ENV_LEASE_NAMESPACE = "LEASE_NAMESPACE"
ENV_LEASE_DURATION = "LEASE_DURATION_SECONDS"
ENV_RENEW_DEADLINE = "RENEW_DEADLINE_SECONDS"
ENV_RETRY_PERIOD = "RETRY_PERIOD_SECONDS"

# client-go's defaults (leaderelection.LeaderElectionConfig as used by most controllers).
DEFAULT_LEASE_DURATION = 15
DEFAULT_RENEW_DEADLINE = 10
DEFAULT_RETRY_PERIOD = 2
DEFAULT_REPLICAS = 3
# client-go's JitterFactor: candidates retry every RP * [1, 1 + JITTER).
JITTER_FACTOR = 1.2


def service_account_name(group: str) -> str:
    """Name of the ServiceAccount the group's pods run as."""
    return group


def role_name(group: str) -> str:
    """Name of the Role (and RoleBinding) that grants the pods their Lease."""
    return f"{group}-lease"


def deployment_name(group: str) -> str:
    """Name of the group's Deployment."""
    return group


def leader_service_name(group: str) -> str:
    """Name of the Service that routes only to the holder."""
    return f"{group}-leader"


def disruption_budget_name(group: str) -> str:
    """Name of the group's PodDisruptionBudget."""
    return group

"""Pure helpers on object dicts: timestamps, names, validation, paths, generation."""

from __future__ import annotations

import datetime
import random
import re
from typing import Any

from leadergroup.sim.resources import ResourceType

JsonDict = dict[str, Any]

# kube's generateName alphabet: no vowels (no words) and no look-alike characters.
GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose names only need to be valid path segments in kube (RBAC objects, events use other rules).
_PATH_SEGMENT_NAMED = {
    ("rbac.authorization.k8s.io", plural)
    for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
}
# Kinds named with DNS labels (63 characters, no dots).
_DNS_LABEL_NAMED = {("", "namespaces"), ("", "services")}

# Metadata only the server sets; writes cannot change them.
SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")


def now_timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serializes."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime | None:
    """Parse metav1.Time / MicroTime; None when unparsable."""
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def generate_name(prefix: str, rng: random.Random | None = None, length: int = 5) -> str:
    """``prefix`` + ``length`` random characters (5: kube's names.SimpleNameGenerator)."""
    rng = rng or random.Random()
    return prefix + "".join(rng.choice(GENERATE_NAME_ALPHABET) for _ in range(length))


def name_causes(rtype: ResourceType, name: str) -> list[JsonDict]:
    """Why ``name`` is not a valid name for this resource (empty when valid)."""
    if rtype.storage_key in _PATH_SEGMENT_NAMED:
        valid = name not in (".", "..") and "/" not in name and "%" not in name
        rule = "may not be '.' or '..' and may not contain '/' or '%'"
    elif rtype.storage_key in _DNS_LABEL_NAMED:
        valid = len(name) <= 63 and bool(_DNS_LABEL.match(name))
        rule = (
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
            "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        )
    else:
        valid = len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))
        rule = (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    if valid:
        return []
    return [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.name",
            "message": f'Invalid value: "{name}": {rule}',
        }
    ]


def get_path(obj: Any, path: str) -> Any:
    """Value at a simple JSONPath / dotted path (``.status.holder``, ``.spec.containers[0].image``)."""
    value = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def set_path(obj: JsonDict, path: str, value: Any) -> None:
    """Set a dotted path, creating maps on the way (for /scale writes)."""
    parts = [part for part in path.split(".") if part]
    target = obj
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def spec_changed(rtype: ResourceType, old: JsonDict, new: JsonDict) -> bool:
    """Whether a write changes what metadata.generation tracks.

    Everything outside metadata counts, except status when the type has a status subresource.
    """
    ignored = {"metadata", "status"} if rtype.status_subresource else {"metadata"}
    return {k: v for k, v in old.items() if k not in ignored} != {
        k: v for k, v in new.items() if k not in ignored
    }


def human_age(created: str, now: datetime.datetime | None = None) -> str:
    """``5s``, ``3m20s``, ``2h5m``, ``4d``... as the API server renders ages (``duration.HumanDuration``)."""
    moment = parse_timestamp(created)
    if moment is None:
        return "<unknown>"
    now = now or datetime.datetime.now(datetime.UTC)
    return human_duration(int((now - moment).total_seconds()))


def human_duration(seconds: int) -> str:
    """A whole number of seconds as apimachinery's ``duration.HumanDuration`` writes it."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        years = days // 365
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{days // 365}y"

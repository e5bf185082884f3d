"""Paged lists (``limit`` and ``continue``), as kube-apiserver serves them to client-go's reflector and Kopf.

A list with ``limit`` returns at most that many objects and, when more remain, ``metadata.continue`` and
``remainingItemCount``; passing the token back returns the next page of the same list, as it was when
the first page was read, with the first page's resourceVersion. The real server reads later pages from
etcd at that revision and answers 410 ``Expired`` once compaction has removed it (every 5 minutes by
default); here the rest of the list is kept as it was, and a token expires after ``ttl`` seconds or when
more than ``capacity`` lists are open at once.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadergroup.sim import errors

JsonDict = dict[str, Any]

EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter."
)


@dataclass
class OpenList:
    """The pages of a list still to be read."""

    scope: tuple[str, ...]
    remaining: list[JsonDict]
    resource_version: str
    opened: float


@dataclass
class Page:
    """One page of a list: its objects and the list metadata that goes with them."""

    objects: list[JsonDict]
    metadata: JsonDict


class Pager:
    """Cuts lists into pages and remembers the rest of each until its next page is asked for."""

    def __init__(self, *, ttl: float = 300.0, capacity: int = 1024) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._open: OrderedDict[str, OpenList] = OrderedDict()

    def page(
        self,
        scope: tuple[str, ...],
        query: Mapping[str, str],
        objects: list[JsonDict],
        resource_version: str,
    ) -> Page:
        """The page the query asks for, of ``objects`` as listed now (ignored when continuing a list).

        ``scope`` names the collection and selectors: a token continues only the list it came from.
        """
        token = query.get("continue")
        if token:
            opened = self._take(token, scope)
            objects, resource_version = opened.remaining, opened.resource_version
        limit = _limit(query.get("limit"))
        metadata: JsonDict = {"resourceVersion": resource_version}
        if limit and len(objects) > limit:
            rest = objects[limit:]
            objects = objects[:limit]
            metadata["continue"] = self._keep(OpenList(scope, rest, resource_version, time.monotonic()))
            metadata["remainingItemCount"] = len(rest)
        return Page(objects, metadata)

    def expire_all(self) -> None:
        """Expire every open list, as a compaction past their revision would (fault injection)."""
        self._open.clear()

    def _keep(self, opened: OpenList) -> str:
        token = secrets.token_urlsafe(16)
        self._open[token] = opened
        while len(self._open) > self.capacity:
            self._open.popitem(last=False)
        return token

    def _take(self, token: str, scope: tuple[str, ...]) -> OpenList:
        now = time.monotonic()
        for stale in [key for key, opened in self._open.items() if now - opened.opened > self.ttl]:
            del self._open[stale]
        opened = self._open.pop(token, None)
        if opened is None:
            raise errors.ApiError(410, "Expired", EXPIRED_MESSAGE)
        if opened.scope != scope:
            raise errors.bad_request("continue key is not valid: the token belongs to another list")
        return opened


def _limit(value: str | None) -> int:
    if not value:
        return 0
    try:
        limit = int(value)
    except ValueError as error:
        raise errors.bad_request(f"invalid limit {value!r}: {error}") from error
    return max(limit, 0)

"""Kopf peering judged as client-go judges a Lease: a peer lives for its lifetime from when it was *seen*.

Kopf counts a peer's keep-alive record as alive until the ``lastseen`` stamp it carries plus its lifetime.
The stamp is taken when the keep-alive PATCH is built, so a keep-alive held up by the network arrives
already old: after a freeze of all traffic longer than the lifetime (a partition, a stalled load balancer)
the active replica's first keep-alive lands expired, the standby resumes, and both replicas work until the
active replica's next keep-alive, 1-5 s later (measured: ``tests/faults/test_peering_faults.py``).

client-go's elector does not trust the holder's clock either: it judges a Lease expired a lease duration
after it last *observed* the record change, on its own clock. :class:`PeerSightings` does the same for
peering records: a record whose stamp changed since the last look counts from the moment it was seen
(or from its stamp, if later); the first look at a record trusts its stamp, so a starting replica does not
wait on a dead peer's leftover record. And a replica that was itself cut off (its own keep-alive shows
again after more than its lifetime) counts every other record as seen when it is back in touch: a peer's
silence that it could not have heard proves nothing. A standby that was cut off therefore takes over up to
one lifetime later than by the stamps; a standby in touch takes over exactly when Kopf would.

Both judges of this process use it: Kopf's own (:func:`install`
wraps ``kopf._core.engines.peering.process_peering_event``, which Kopf's orchestrator looks up when it
starts the peering watch, after the startup handlers) and the activity gate of the operator's own
watches (``cli/activity.py``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)
_MARK = "_leadergroup_sighted"


def _parse(stamp: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class PeerSightings:
    """When this process saw each peer's current keep-alive; a body's records re-stamped with it."""

    def __init__(self, clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)):
        self.clock = clock
        self._seen: dict[str, tuple[str, datetime.datetime]] = {}  # identity -> (its stamp, seen-from)

    def restamped(self, body: Mapping[str, Any], identity: str) -> dict[str, Any]:
        """``body`` with each record's ``lastseen`` moved to when it was seen here, if that is later.

        ``identity`` is this replica's: its own keep-alive, renewed every few seconds, shows whether this
        replica was in touch with the server. When it shows again after more than its lifetime (a
        partition, a stalled connection), every other record counts as seen now: nothing could be known
        of them meanwhile, so none may be judged dead for that silence.
        """
        status = body.get("status")
        if not isinstance(status, Mapping):
            return dict(body)
        now = self.clock()
        stamps = {name: _stamp(record) for name, record in status.items()}
        own = stamps.get(identity)
        before = self._seen.get(identity)
        lifetime = _lifetime(status.get(identity))
        back_in_touch = (
            own is not None
            and before is not None
            and before[0] != own[0]
            and (now - before[1]).total_seconds() > lifetime
        )
        if back_in_touch:
            assert before is not None
            logger.info(
                "Peering: back in touch after %.0fs without news; every peer counts as seen now",
                (now - before[1]).total_seconds(),
            )
        records: dict[str, Any] = {}
        for name, record in status.items():
            stamp = stamps[name]
            if stamp is None or not isinstance(record, Mapping):
                records[name] = record  # Kopf reads a record without a stamp as seen just now
                continue
            stamp_text, moment = stamp
            previous = self._seen.get(name)
            if name == identity:
                # Our own record: we are alive, whatever its stamp says. By its stamp alone, a replica
                # back from a partition would judge itself dead and Kopf would delete its own record,
                # and with it the standby's reason to stay paused.
                seen_from = max(moment, now)
            elif previous is None:
                seen_from = moment  # the first look: the stamp is all there is to go by
            elif back_in_touch or previous[0] != stamp_text:
                seen_from = max(moment, now)  # a new keep-alive (or news at last), seen now
            else:
                seen_from = previous[1]
            self._seen[name] = (stamp_text, seen_from)
            records[name] = {**record, "lastseen": seen_from.isoformat()}
        return {**body, "status": records}


def _stamp(record: Any) -> tuple[str, datetime.datetime] | None:
    text = str(record.get("lastseen") or "") if isinstance(record, Mapping) else ""
    moment = _parse(text) if text else None
    return (text, moment) if moment is not None else None


def _lifetime(record: Any) -> float:
    try:
        return float(record.get("lifetime", 60)) if isinstance(record, Mapping) else 60.0
    except (TypeError, ValueError):
        return 60.0


def install(sightings: PeerSightings | None = None) -> None:
    """Make Kopf judge its peers from when this process saw their keep-alives (again: a no-op)."""
    # Imported here: the activity gate imports this module before the operator's first import of Kopf,
    # which must hide the kubernetes package from it (cli/kopfimport.py).
    from kopf._core.engines import peering as kopf_peering

    if getattr(kopf_peering.process_peering_event, _MARK, False):
        return
    original = kopf_peering.process_peering_event
    kopf_peering.process_peering_event = sighted(original, sightings or PeerSightings())  # type: ignore[assignment]


def sighted(
    process: Callable[..., Awaitable[None]], sightings: PeerSightings
) -> Callable[..., Awaitable[None]]:
    """Kopf's ``process_peering_event`` fed with the records re-stamped by ``sightings``."""

    async def process_sighted(*, raw_event: Mapping[str, Any], identity: str, **kwargs: Any) -> None:
        body = raw_event.get("object")
        if isinstance(body, Mapping):
            raw_event = {**raw_event, "object": sightings.restamped(body, identity)}
        await process(raw_event=raw_event, identity=identity, **kwargs)

    setattr(process_sighted, _MARK, True)
    return process_sighted

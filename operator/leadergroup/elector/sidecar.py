"""``leadergroup-elector sidecar``: elect, and tell the pod's other containers who leads over HTTP.

* ``GET /leader`` → ``{"name": <holder>, "isLeader": <bool>}`` (the shape of the old
  ``k8s.gcr.io/leader-elector`` sidecar, plus ``isLeader``).
* ``GET /healthz`` → 200 while the API server answers; 503 when it has not answered for a renew deadline
  plus one polling interval (2.2 retry periods), or when this replica leads and its last renewal failed.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from leadergroup.elector.elector import LeaderElector
from leadergroup.elector.lock import LeaseLock
from leadergroup.elector.options import ElectorOptions, UsageError, parse_http_address
from leadergroup.elector.session import build_elector, install_stop_signals

logger = logging.getLogger("leadergroup.elector")


def health(elector: LeaderElector, started_at: float) -> tuple[bool, str]:
    """Whether the elector is healthy, and why not."""
    now = elector.clock.monotonic()
    last_contact = elector.last_api_contact if elector.last_api_contact is not None else started_at
    # A follower asks every RP x [1, 2.2): allow one full poll interval on top of the renew deadline.
    allowed_silence = elector.timing.renew_deadline + elector.timing.max_poll_interval
    if now - last_contact > allowed_silence:
        return False, f"no answer from the API server for {now - last_contact:.1f}s"
    if elector.is_leader and elector.last_renewal_failed:
        return False, "leader cannot renew its Lease"
    return True, "ok"


def make_app(elector: LeaderElector) -> web.Application:
    """The sidecar's HTTP routes."""
    started_at = elector.clock.monotonic()

    async def leader(_: web.Request) -> web.Response:
        body: dict[str, Any] = {"name": elector.leader, "isLeader": elector.is_leader}
        return web.json_response(body)

    async def healthz(_: web.Request) -> web.Response:
        healthy, reason = health(elector, started_at)
        return web.json_response({"healthy": healthy, "reason": reason}, status=200 if healthy else 503)

    app = web.Application()
    app.router.add_get("/leader", leader)
    app.router.add_get("/healthz", healthz)
    return app


async def serve_sidecar(options: ElectorOptions, lock: LeaseLock) -> int:
    """Elect and serve ``/leader`` and ``/healthz`` until stopped; return 0.

    Raises:
        UsageError: the HTTP address cannot be served (the port is in use, say).
    """
    host, port = parse_http_address(options.http_address)
    elector = build_elector(options, lock, None)
    runner = web.AppRunner(make_app(elector), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:  # e.g. the port is taken: a configuration error, reported in one line
        await runner.cleanup()
        raise UsageError(f"-http-address {options.http_address}: {error.strerror or error}") from None
    for address in runner.addresses:
        logger.info("Serving /leader and /healthz on %s", address)
    install_stop_signals(elector)
    try:
        await elector.run()
    finally:
        await runner.cleanup()
    return 0

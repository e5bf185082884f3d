"""Kopf runs against the emulator: discovery, list+watch, patches of the resource and its status, events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.sim.conftest import WIDGETS, Api, widget, widget_crd
from tests.support import eventually

from leadergroup.sim import Emulator

TINY_OPERATOR = textwrap.dedent(
    """
    import kopf

    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_):
        settings.posting.loggers = True  # post handler log messages as Events: exercises generateName

    @kopf.on.create("example.com", "v1", "widgets")
    def created(spec, patch, logger, **_):
        patch.status["seenSize"] = spec["size"]
        logger.info("Widget seen")
        return {"handled": True}
    """
)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(bookmark_interval=0.5) as emu:
        emu.load_crds(widget_crd())
        yield emu


async def test_a_kopf_operator_handles_a_custom_resource(emulator: Emulator, tmp_path: Path) -> None:
    operator_file = tmp_path / "tiny_operator.py"
    operator_file.write_text(TINY_OPERATOR)
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", token="kopf")
    log_path = tmp_path / "kopf.log"
    # A subprocess, as in production: the kubernetes package reads KUBECONFIG only once, at import.
    command = [
        sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--namespace",
        "default",
        "--verbose",
        str(operator_file),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "KUBECONFIG": str(kubeconfig)}
        )
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, emulator.url)
            await api.ok("POST", WIDGETS, widget("w", size=7))

            async def handled() -> dict[str, Any] | None:
                status = (await api.ok("GET", f"{WIDGETS}/w")).get("status", {})
                return status if "created" in status else None

            status = await eventually(handled, timeout=20, message=f"Kopf handled the widget: {log_path}")
            assert status == {"seenSize": 7, "created": {"handled": True}}

            async def event_posted() -> list[dict[str, Any]]:
                events = await api.ok("GET", "/api/v1/namespaces/default/events")
                return [event for event in events["items"] if event["involvedObject"]["name"] == "w"]

            events = await eventually(event_posted, timeout=10, message="Kopf posted an event")
            assert events[0]["metadata"]["name"].startswith("kopf-event-")
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=20)
    output = log_path.read_text()
    assert exit_code == 0, output
    assert "Handler 'created' succeeded" in output
    error_lines = [line for line in output.splitlines() if "ERROR" in line or "Traceback" in line]
    assert error_lines == [], output
    kopf_requests = [record for record in emulator.requests if record.user == "kopf"]
    assert {"get", "list", "watch", "patch", "create"} <= {record.verb for record in kopf_requests}
    assert all(record.status < 400 for record in kopf_requests), [r for r in kopf_requests if r.status >= 400]

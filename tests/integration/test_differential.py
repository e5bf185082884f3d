"""The emulator answers as the real API server does: one table of requests, sent to both, compared.

Each case of ``differential_cases.py`` runs on the session's real control plane and on a fresh emulator,
each in a namespace (and, for CRD cases, an API group) of its own. What is compared is named per case:

- ``status``: the HTTP status; ``reason``: the Status reason (``""`` on success);
- ``fields``: the sorted field paths of the Status causes; ``causes``: (field, message) pairs, in order;
- ``message``: the Status message; ``warnings``: the ``Warning`` headers' texts;
- ``body:<path>``: the value at a dotted path of the answer; ``has:<path>``: whether there is one;
- ``items``: the names in a list; ``watch``: each watch event's type and, for ERROR, its code and reason.

Namespaces and groups are written back as ``{ns}`` and ``{group}`` before comparing. A difference is
allowed only when ``docs/testing.md`` lists the case in its table of known differences, with the reason;
a listed case that no longer differs fails too, so the list stays true.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.differential_cases import CRDS_PATH, REPO, Case, Step, all_cases, substitute
from tests.support.cluster import CRD_DIR, RealBackend
from tests.support.raw_http import Answer, RawClient

from leadergroup.sim import Emulator
from leadergroup.sim.objects import get_path

DOCS = REPO / "docs" / "testing.md"
_GAP_ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|\s*(.+?)\s*\|")


def listed_differences() -> dict[str, str]:
    """Case id → what differs and why, from the table in docs/testing.md."""
    text = DOCS.read_text()
    start = text.index("<!-- differential-gaps:start -->")
    end = text.index("<!-- differential-gaps:end -->")
    gaps = {}
    for line in text[start:end].splitlines():
        if match := _GAP_ROW.match(line):
            gaps[match.group(1)] = match.group(2)
    return gaps


CASES = all_cases()
GAPS = listed_differences()


def test_every_listed_difference_names_a_case() -> None:
    from tests.integration.test_differential_kubectl import COMMANDS

    known = {case.id for case in CASES} | {command.id for command in COMMANDS}
    assert set(GAPS) <= known, set(GAPS) - known


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path]]:
    with Emulator() as emu:
        emu.load_crds(*sorted(CRD_DIR.glob("*.yaml")))
        yield emu, emu.write_kubeconfig(tmp_path_factory.mktemp("emulator") / "kubeconfig", token="admin")
        assert not emu.api.internal_errors, emu.api.internal_errors


def outcome(answer: Answer, compare: tuple[str, ...]) -> dict[str, Any]:
    """What of an answer the case compares."""
    body = answer.body
    is_status = isinstance(body, dict) and body.get("kind") == "Status"
    causes = (body.get("details") or {}).get("causes") or [] if is_status else []
    result: dict[str, Any] = {}
    for key in compare:
        if key == "status":
            result[key] = answer.status
        elif key == "reason":
            result[key] = body.get("reason", "") if is_status else ""
        elif key == "message":
            result[key] = body.get("message", "") if is_status else ""
        elif key == "fields":
            result[key] = sorted({cause.get("field", "") for cause in causes})
        elif key == "causes":
            result[key] = [(cause.get("field", ""), cause.get("message", "")) for cause in causes]
        elif key == "warnings":
            result[key] = sorted(answer.warnings)
        elif key == "items":
            result[key] = sorted(item["metadata"]["name"] for item in (body or {}).get("items", []))
        elif key == "watch":
            events = body if isinstance(body, list) else []
            result[key] = [
                (event["type"], event["object"].get("code"), event["object"].get("reason"))
                if event["type"] == "ERROR"
                else (event["type"],)
                for event in events
                if event["type"] != "BOOKMARK"
            ]
        elif key.startswith("body:"):
            result[key] = get_path(body, key[len("body:") :])
        elif key.startswith("has:"):
            result[key] = get_path(body, key[len("has:") :]) is not None
        else:
            raise AssertionError(f"unknown comparison {key!r}")
    return result


def _unsubstitute(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, actual in names.items():
            value = value.replace(actual, "{" + key + "}")
        return value
    if isinstance(value, dict):
        return {key: _unsubstitute(item, names) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_unsubstitute(item, names) for item in value)
    return value


async def _send(client: RawClient, step: Step, names: dict[str, str]) -> Answer:
    return await client.send(
        step.method,
        substitute(step.path, names),
        body=substitute(step.body, names),
        query={key: substitute(value, names) for key, value in step.query.items()},
        content_type=step.content_type,
    )


@pytest.fixture
async def run_case() -> AsyncIterator[Any]:
    cleanups: list[tuple[Path, dict[str, str], bool]] = []

    async def run(kubeconfig: Path, case: Case) -> dict[str, Any]:
        suffix = secrets.token_hex(3)
        names = {"ns": f"diff-{suffix}", "group": f"d{suffix}.diff.example.com"}
        async with RawClient(kubeconfig) as client:
            created = await client.send(
                "POST", "/api/v1/namespaces", body={"metadata": {"name": names["ns"]}}
            )
            assert created.status == 201, created.body
            cleanups.append((kubeconfig, dict(names), case.needs_crd or case.id.startswith("crd-")))
            for step in case.setup:
                answer = await _send(client, step, names)
                if step.path == CRDS_PATH and answer.status == 201:
                    await _wait_served(client, names)
                if step.remember and isinstance(answer.body, dict):
                    names[step.remember] = answer.body["metadata"]["uid"]
                    names[f"{step.remember}_rv"] = answer.body["metadata"]["resourceVersion"]
            answer = await _send(client, case.probe, names)
            deadline = time.monotonic() + 60
            while case.until_status and answer.status != case.until_status and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                answer = await _send(client, case.probe, names)
        placeholders = {key: names[key] for key in ("ns", "group")}  # numbers would match anywhere
        return dict(_unsubstitute(outcome(answer, case.compare), placeholders))

    yield run
    for kubeconfig, names, had_crd in cleanups:
        async with RawClient(kubeconfig) as client:
            await client.send("DELETE", f"/api/v1/namespaces/{names['ns']}")
            if had_crd:
                await client.send("DELETE", f"{CRDS_PATH}/widgets.{names['group']}")


async def _wait_served(client: RawClient, names: dict[str, str]) -> None:
    """Wait until a just-created CRD's resource answers (kube serves it a moment after Established)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = await client.send("GET", substitute("/apis/{group}/v1/namespaces/{ns}/widgets", names))
        if answer.status == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the CRD of {names['group']} was never served")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_both_backends_answer_alike(
    case: Case, run_case: Any, real_backend: RealBackend, emulator: tuple[Emulator, Path]
) -> None:
    real = await run_case(real_backend.kubeconfig, case)
    emulated = await run_case(emulator[1], case)
    listed = GAPS.get(case.id)
    if listed is not None:
        if emulated == real:
            pytest.fail(f"{case.id} is listed in docs/testing.md as a difference but both agree: unlist it")
        pytest.xfail(f"listed difference: {listed}")
    assert emulated == real, f"the emulator differs from the real API server on {case.id}"

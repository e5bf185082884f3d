"""What a new user reads first: every command's --help, --version and its answer to no arguments."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from leadergroup import __version__

COMMANDS = {
    "leadergroup": ["-m", "leadergroup.cli.main"],
    "leadergroup demo": ["-m", "leadergroup.cli.main", "demo"],
    "leadergroup start": ["-m", "leadergroup.cli.main", "start"],
    "leadergroup-operator": ["-m", "leadergroup.cli.operator"],
    "leadergroup-elector": ["-m", "leadergroup.elector"],
    "leadergroup-elector run": ["-m", "leadergroup.elector", "run"],
    "leadergroup-elector sidecar": ["-m", "leadergroup.elector", "sidecar"],
    "python -m leadergroup.sim": ["-m", "leadergroup.sim"],
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_help_is_plain_text(command: str) -> None:
    result = run(*COMMANDS[command], "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert "``" not in result.stdout and ":mod:" not in result.stdout, "reST markup in the help"


def test_the_elector_help_names_its_modes() -> None:
    text = run(*COMMANDS["leadergroup-elector"], "--help").stdout
    assert "leadergroup-elector run" in text and "leadergroup-elector sidecar" in text


@pytest.mark.parametrize("command", ["leadergroup", "leadergroup-operator", "leadergroup-elector"])
def test_version(command: str) -> None:
    result = run(*COMMANDS[command], "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{command} {__version__}"


def test_no_arguments_prints_the_usage_with_the_commands() -> None:
    result = run(*COMMANDS["leadergroup"])
    assert result.returncode == 2
    assert "the following arguments are required" not in result.stderr
    assert "usage: leadergroup" in result.stdout
    assert "start" in result.stdout and "demo" in result.stdout


def test_a_taken_metrics_port_fails_fast_with_a_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "leadergroup.cli.operator", "--standalone", f"--metrics-port={port}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert f"--metrics-port {port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("kubeconfig", "reason"),
    [
        ("absent", "absent: no such file"),
        ("socks", "proxy-url socks5://127.0.0.1:1080: SOCKS proxies are not supported"),
    ],
)
def test_a_kubeconfig_that_cannot_work_fails_fast_with_a_reason(
    tmp_path: Path, kubeconfig: str, reason: str
) -> None:
    (tmp_path / "socks").write_text(
        "clusters: [{name: c, cluster: {server: 'https://10.1.2.3:6443', proxy-url: 'socks5://127.0.0.1:1080'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "leadergroup.cli.operator",
            "--standalone",
            f"--kubeconfig={tmp_path / kubeconfig}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("leadergroup-operator: error: ")
    assert reason in result.stderr
    assert "Traceback" not in result.stderr

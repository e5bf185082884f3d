from __future__ import annotations

import subprocess
import sys

import pytest

from leadergroup.elector.options import UsageError, parse_args, parse_http_address
from leadergroup.elector.runner import exit_status

ENV = {"POD_NAME": "pod-a", "LEASE_NAME": "from-env"}


class TestFlags:
    @pytest.mark.parametrize(
        "argv",
        [
            ["-id=x", "-lease-lock-name=l", "-lease-lock-namespace=ns", "-kubeconfig=/k"],
            ["-id", "x", "-lease-lock-name", "l", "-lease-lock-namespace", "ns", "-kubeconfig", "/k"],
            ["--id=x", "--lease-lock-name=l", "--lease-lock-namespace=ns", "--kubeconfig=/k"],
            ["--id", "x", "--lease-lock-name", "l", "--lease-lock-namespace", "ns", "--kubeconfig", "/k"],
        ],
    )
    def test_go_flag_forms_of_the_blogs_flags(self, argv: list[str]) -> None:
        options = parse_args(argv, env={})
        assert (options.identity, options.lease_name, options.lease_namespace, options.kubeconfig) == (
            "x",
            "l",
            "ns",
            "/k",
        )
        assert options.mode == "elect"

    def test_durations_in_go_syntax_and_plain_seconds(self) -> None:
        options = parse_args(
            ["-lease-duration=1m", "-renew-deadline", "30s", "--retry-period=2500ms"], env=ENV
        )
        assert (
            options.timing.lease_duration,
            options.timing.renew_deadline,
            options.timing.retry_period,
        ) == (
            60,
            30,
            2.5,
        )

    def test_defaults_come_from_the_operators_env_then_client_go(self) -> None:
        env = {
            **ENV,
            "LEASE_NAMESPACE": "team",
            "LEASE_DURATION_SECONDS": "6",
            "RENEW_DEADLINE_SECONDS": "4",
            "RETRY_PERIOD_SECONDS": "1",
        }
        options = parse_args([], env=env)
        assert options.identity == "pod-a"
        assert options.lease_name == "from-env"
        assert options.lease_namespace == "team"
        assert (
            options.timing.lease_duration,
            options.timing.renew_deadline,
            options.timing.retry_period,
        ) == (
            6,
            4,
            1,
        )
        plain = parse_args([], env=ENV)
        assert (plain.timing.lease_duration, plain.timing.renew_deadline, plain.timing.retry_period) == (
            15,
            10,
            2,
        )
        assert plain.lease_namespace is None, "left to the kubeconfig's or the pod's namespace"

    def test_flags_beat_env(self) -> None:
        options = parse_args(["-id=flag", "-lease-duration=20"], env={**ENV, "LEASE_DURATION_SECONDS": "6"})
        assert options.identity == "flag"
        assert options.timing.lease_duration == 20

    def test_pod_namespace_is_the_fallback_namespace(self) -> None:
        assert parse_args([], env={**ENV, "POD_NAMESPACE": "mine"}).lease_namespace == "mine"

    def test_random_identity_without_pod_name(self) -> None:
        first = parse_args(["-lease-lock-name=l"], env={})
        second = parse_args(["-lease-lock-name=l"], env={})
        assert first.identity and second.identity and first.identity != second.identity

    def test_run_mode_takes_the_command_after_the_separator(self) -> None:
        options = parse_args(
            ["run", "-id=a", "-grace-period=3s", "--", "my-app", "-id=not-ours", "--x"], env=ENV
        )
        assert options.mode == "run"
        assert options.identity == "a"
        assert options.command == ["my-app", "-id=not-ours", "--x"]
        assert options.effective_grace_period == 3

    def test_run_grace_period_defaults_to_lease_duration_minus_renew_deadline(self) -> None:
        options = parse_args(["run", "-lease-duration=15s", "-renew-deadline=10s", "--", "app"], env=ENV)
        assert options.effective_grace_period == 5

    def test_sidecar_mode(self) -> None:
        options = parse_args(["sidecar", "-http-address=127.0.0.1:9000"], env=ENV)
        assert options.mode == "sidecar"
        assert parse_http_address(options.http_address) == ("127.0.0.1", 9000)
        assert parse_http_address(":8080") == ("0.0.0.0", 8080)
        assert parse_http_address("[::1]:80") == ("::1", 80)


class TestErrors:
    @pytest.mark.parametrize(
        ("argv", "env", "fragment"),
        [
            (
                ["-lease-duration=5s", "-renew-deadline=10s"],
                ENV,
                "lease duration must be greater than renew deadline",
            ),
            (["-retry-period=9s"], ENV, "renew deadline must be greater than 1.2 x retry period"),
            (["-lease-duration=soon"], ENV, "-lease-duration: invalid duration"),
            (["-renew-deadline=+"], ENV, "-renew-deadline: invalid duration"),
            (["-retry-period=x"], ENV, "-retry-period: invalid duration"),
            ([], {"LEASE_NAME": "l", "RETRY_PERIOD_SECONDS": "x"}, "$RETRY_PERIOD_SECONDS"),
            (["-bogus=1"], ENV, "unrecognized arguments"),
            ([], {"POD_NAME": "a"}, "lease-lock-name"),
            (["run", "-id=a"], ENV, "run needs a command"),
            (["run", "-id=a", "--"], ENV, "run needs a command"),
            (["-id=a", "--", "cmd"], ENV, "did you mean 'run'"),
            (["-id="], ENV, "must not be empty"),
            (["-id"], ENV, "expected one argument"),
        ],
    )
    def test_usage_errors(self, argv: list[str], env: dict[str, str], fragment: str) -> None:
        with pytest.raises(UsageError, match=None) as raised:
            parse_args(argv, env=env)
        assert fragment in str(raised.value)

    @pytest.mark.parametrize(
        "argv",
        [
            ["-id=a", "-lease-lock-name=l", "-lease-duration=2s", "-renew-deadline=3s"],
            ["-nope"],
            ["-id=a", "-lease-lock-name=l", "-kubeconfig=/does/not/exist"],
        ],
    )
    def test_the_command_exits_2_with_one_line_and_no_traceback(self, argv: list[str]) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "leadergroup.elector", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("leadergroup-elector: error: ")

    def test_help_exits_0(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "leadergroup.elector", "run", "-h"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0
        assert "-lease-lock-name" in done.stdout
        assert "-grace-period" in done.stdout


@pytest.mark.parametrize(("returncode", "status"), [(0, 0), (3, 3), (-15, 143), (-9, 137)])
def test_exit_status_is_shell_style(returncode: int, status: int) -> None:
    assert exit_status(returncode) == status


def test_rejoin_is_the_default_and_exit_on_lost_turns_it_off() -> None:
    base = ["-id=a", "-lease-lock-name=l", "-lease-lock-namespace=ns"]
    assert parse_args(base, env={}).rejoin is True
    assert parse_args([*base, "-exit-on-lost"], env={}).rejoin is False

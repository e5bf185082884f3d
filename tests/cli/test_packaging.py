"""The package as the image installs it (a wheel, not this checkout): CRDs inside, both entrypoints work.

The Dockerfile cannot be built here (no Docker engine); this runs its install step, `pip install .`, into a
throwaway target with the dependencies of the dev venv, and checks what the image relies on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel, and what building it printed."""
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(out),
            ".",
        ],
        cwd=REPO_ROOT,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    (found,) = out.glob("leadergroup_operator-*.whl")
    return found, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(built: tuple[Path, str]) -> Path:
    return built[0]


def test_building_prints_no_warnings(built: tuple[Path, str]) -> None:
    # A table-style `license` made setuptools warn on every install; the build backend is pinned too.
    assert "Warning" not in built[1], built[1]
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    requires = next(line for line in pyproject.splitlines() if line.startswith("requires = "))
    assert "==" in requires and ">=" not in requires, requires


def test_wheel_ships_the_crds_and_both_console_scripts(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    shipped_crds = {Path(n).name for n in names if n.startswith("leadergroup/crds/")}
    assert shipped_crds >= {path.name for path in (REPO_ROOT / "crds").glob("*.yaml")}
    assert "leadergroup-operator = leadergroup.cli.operator:main" in entry_points
    assert "leadergroup-elector = leadergroup.elector.cli:main" in entry_points
    assert not any(name.startswith(("tests/", "bench/", "operator/")) for name in names)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("leadergroup.cli.operator", "--peering"),
        ("leadergroup.elector", "-lease-lock-name"),
        ("leadergroup.cli.main", "demo"),
    ],
)
def test_installed_entrypoints_start(wheel: Path, tmp_path: Path, module: str, expected: str) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    # The installed copy comes first; the dev venv supplies the dependencies, as the image's venv would.
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        f"import leadergroup, sys; assert leadergroup.__file__.startswith({str(target)!r}); sys.argv[0] = 'x'"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}; import runpy; runpy.run_module({module!r}, run_name='__main__')",
            "--help",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
    # The packaged CRDs are found from the installed copy too (the demo and the emulator load them).
    check = subprocess.run(
        [sys.executable, "-c", "from leadergroup import packaged; print(len(packaged.crds()))"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert int(check.stdout.strip()) >= 3, check.stderr

"""Files shipped inside the package: the CRDs (``operator/leadergroup/crds`` links to ``crds/``)."""

from __future__ import annotations

import pathlib
from importlib import resources
from typing import Any

import yaml


def crd_files() -> list[pathlib.Path]:
    """The CRD YAML files shipped in the package, sorted by name (may be none)."""
    directory = resources.files("leadergroup") / "crds"
    if not directory.is_dir():
        return []
    return sorted(pathlib.Path(str(entry)) for entry in directory.iterdir() if entry.name.endswith(".yaml"))


def crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document in those files."""
    found: list[dict[str, Any]] = []
    for path in crd_files():
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                found.append(document)
    return found

"""Kopf, imported without the ``kubernetes`` package it would load for nothing.

When ``kubernetes`` is installed, ``import kopf`` imports it (``kopf._cogs.helpers.thirdparty``) so that
``kopf.adopt()`` and friends accept its model objects, and so does Kopf's default registry, to offer a
login through it: the whole generated client, about 900 classes and 12 MB of the operator's memory. This
operator passes plain dicts and logs in with its own loader (:mod:`leadergroup.kube.config`, the
``login`` handler), so the program hides the package from those two steps; Kopf then treats it as absent,
as it does when it is not installed. Anything imported afterwards (the ``auth-provider`` fallback of the
loader) still finds it.

Import this module before anything else that imports Kopf (``leadergroup.cli.operator`` does, and
``tests/cli/test_kopfimport.py`` checks that the operator's modules never load ``kubernetes``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType


class _Hidden(importlib.abc.MetaPathFinder):
    """Answers ``kubernetes`` and its submodules with ModuleNotFoundError while installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "kubernetes" or fullname.startswith("kubernetes."):
            raise ModuleNotFoundError(f"{fullname} is hidden from Kopf's import", name=fullname)
        return None


__all__ = ["kopf"]

_hidden = _Hidden()
sys.meta_path.insert(0, _hidden)
try:
    # A no-op when Kopf came first (kopf run -m leadergroup.handlers, the tests): nothing is saved then.
    import kopf

    kopf.get_default_registry()  # created now, while the package is hidden (see above)
finally:
    sys.meta_path.remove(_hidden)

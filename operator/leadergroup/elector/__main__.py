"""``python -m leadergroup.elector``: the ``leadergroup-elector`` command."""

from __future__ import annotations

import sys

from leadergroup.elector.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Console scripts: ``leadergroup-operator`` and ``leadergroup`` (the demo)."""

"""Console scripts: ``leadergroup-operator`` and ``leadergroup`` (the demo)."""

import signal

# The exit status of a start interrupted by Ctrl-C before Kopf runs (Kopf itself exits 0 on SIGINT).
INTERRUPTED = 128 + signal.SIGINT

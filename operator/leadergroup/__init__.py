"""leadergroup-operator: Kubernetes leader election as a product.

The package holds the operator (``leadergroup.handlers`` and the layers under it), the workload-side
elector (``leadergroup.elector``), the in-process Kubernetes API emulator (``leadergroup.sim``) and the
``leadergroup demo`` command.
"""

__version__ = "0.1.0"

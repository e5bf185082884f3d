"""A real Kubernetes control plane as a test fixture, built here from Go modules (see docs/testing.md).

``python -m tests.controlplane build`` builds it once per machine; ``python -m tests.controlplane up`` (or
``make cluster``) starts one for a person and prints the ``KUBECONFIG`` line to use.
"""

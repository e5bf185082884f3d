# One image, two programs: the operator (default entrypoint) and the workload-side elector
# (`command: ["leadergroup-elector"]`). Build: docker build -t ghcr.io/leadergroup/leadergroup-operator:0.1.0 .
# The base is pinned by tag; pin it by digest too when your registry mirror allows
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The exact versions CI tested (constraints.txt); editable lines are a developer's checkout, not a pin.
COPY constraints.txt pyproject.toml README.md ./
RUN grep -v '^-e ' constraints.txt > /tmp/constraints.txt
COPY crds/ crds/
COPY operator/ operator/
RUN pip install -c /tmp/constraints.txt . \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="leadergroup-operator" \
      org.opencontainers.image.description="Kubernetes leader election as a product: LeaderGroup operator and elector" \
      org.opencontainers.image.source="https://github.com/leadergroup/leadergroup-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
# A named user for tools that look the UID up; the pods run as this numeric UID (runAsNonRoot).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin leadergroup
COPY --from=builder /opt/venv /opt/venv
# Bytecode was compiled at build time; the root filesystem is read-only at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["leadergroup-operator"]

# Two commands for a fresh clone: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint unit integration demo operator constraints clean controlplane cluster

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,lint]"
	touch $@

## run: the operator against the current kubeconfig; the built-in demo when no cluster answers
run: $(BIN)/.installed
	$(BIN)/leadergroup start

## demo: the no-cluster demo (emulated API server, real operator, three real electors);
## its options go in ARGS: make demo ARGS="--timings 3/2/1 --keep-running"
demo: $(BIN)/.installed
	$(BIN)/leadergroup demo $(ARGS)

## test: linters, type checks, layer contracts and the whole test suite on both backends (what CI runs)
# Two workers, a test file each at a time (module fixtures stay per file), in collection order (the longest
# files first, see tests/conftest.py) rather than by test count; PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
test: lint controlplane
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

## controlplane: build the real Kubernetes control plane of the tests, once per machine (needs Go)
controlplane: $(BIN)/.installed
	$(BIN)/python -m tests.controlplane build --optional

## cluster: start that control plane with the CRDs installed; prints the KUBECONFIG line; Ctrl-C stops it.
## NODES=3 adds simulated nodes (KWOK) for pods that tolerate kwok.x-k8s.io/node=fake
NODES ?= 0
cluster: $(BIN)/.installed
	$(BIN)/python -m tests.controlplane up --nodes $(NODES)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit tests/schema

integration: $(BIN)/.installed controlplane
	$(BIN)/pytest tests/integration tests/elector tests/faults tests/demo tests/sim

constraints: $(BIN)/.installed
	$(BIN)/pip freeze --exclude-editable | grep -v '^leadergroup' > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

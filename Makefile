# Two commands for a fresh clone: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint unit integration demo operator constraints clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,lint]"
	touch $@

## run: the operator against the current kubeconfig; the built-in demo when no cluster answers
run: $(BIN)/.installed
	$(BIN)/leadergroup start

## demo: the no-cluster demo (emulated API server, real operator, three real electors)
demo: $(BIN)/.installed
	$(BIN)/leadergroup demo

## test: linters, type checks, layer contracts and the whole test suite (what CI runs)
test: lint
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit tests/schema

integration: $(BIN)/.installed
	$(BIN)/pytest tests/integration tests/elector tests/sim

constraints: $(BIN)/.installed
	$(BIN)/pip freeze --exclude-editable | grep -v '^leadergroup' > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

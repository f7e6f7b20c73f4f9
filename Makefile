# Two commands run everything on a fresh machine with Python 3.11:
#   make demo   — set up the virtual environment and run the closed-loop demo (embedded defaults)
#   make test   — set up the virtual environment and run the whole test suite (slow tests included)
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOME_DIR ?= .factory_mlops

.PHONY: setup demo test test-fast test-security lint typecheck ui reports validate bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,edge,platform]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/factory-mlops demo --home $(HOME_DIR)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy factory_mlops
	$(PY) -m pytest -n 2 --dist loadfile -q

test-fast: setup
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

# the threat model's evidence (docs/security.md); `make test` runs these too
test-security: setup
	$(PY) -m pytest -q -m security

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy factory_mlops

validate: setup
	mkdir -p $(HOME_DIR)/dagster
	DAGSTER_HOME=$(abspath $(HOME_DIR))/dagster $(VENV)/bin/dagster definitions validate -w workspace.yaml

# The Dagster UI, with the report server beside it (the drift pages its links open; port 8766).
ui: setup
	mkdir -p $(HOME_DIR)/dagster
	$(VENV)/bin/factory-mlops reports serve --home $(HOME_DIR) & reports=$$!; \
	trap 'kill $$reports 2>/dev/null' EXIT INT TERM; \
	DAGSTER_HOME=$(abspath $(HOME_DIR))/dagster FACTORY_MLOPS_HOME=$(abspath $(HOME_DIR)) $(VENV)/bin/dagster dev -w workspace.yaml

reports: setup
	$(VENV)/bin/factory-mlops reports serve --home $(HOME_DIR)

clean:
	rm -rf $(HOME_DIR) .pytest_cache .ruff_cache

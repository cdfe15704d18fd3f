# Shifu DW. `make` lists the targets; each is described by its `## ` comment.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export SHIFU_DATA_DIR ?= $(CURDIR)/data

# The demo's simulation: one week of the marketplace at a tenth of full scale.
DEMO_START ?= 2026-11-01
DEMO_DAYS ?= 7
DEMO_SCALE ?= 0.1
DEMO_SEED ?= 42

# pytest-xdist workers (tests/conftest.py keeps each expensive session fixture on one worker),
# and extra pytest options, e.g. `make test PYTEST_WORKERS=0 PYTEST_ARGS="-m 'not slow'"`.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

# Setup reruns only when pyproject.toml, requirements.lock or a C source (built in place) change:
# the stamp is named after them.
SETUP_HASH := $(shell cat pyproject.toml requirements.lock ingest/*.c ingest/*.h | sha256sum | cut -c1-16)
SETUP_STAMP := $(VENV)/.setup-$(SETUP_HASH)

.PHONY: help setup demo test services lint format compose-check bench lock clean distclean

help: ## List the targets
	@echo "Usage: make TARGET   (SHIFU_DATA_DIR=$(SHIFU_DATA_DIR))"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(SETUP_STAMP) ## Create .venv (Python 3.11) and install the locked stack; a no-op when up to date

$(SETUP_STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The filter drops pip's one-line-per-package notes about local file:// package indexes
	@# that lack the package (a machine's pip config), which would bury real errors.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]' \
		2>&1 | { grep -v "^WARNING: Location 'file://.*' is ignored" || true; }
	@rm -f $(VENV)/.setup-*
	@touch $@

demo: setup ## Run the main job on the embedded default: simulate, ingest and build a week, night by night
	@scripts/demo.sh $(DEMO_START) $(DEMO_DAYS) $(DEMO_SCALE) $(DEMO_SEED)

test: setup services lint ## Install, start the services, then lint and run every test
	@$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS) || { rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; fi; \
		exit $$rc; }

services: ## Make sure PostgreSQL and MariaDB are up and the binlog tools are installed
	@scripts/services.sh

lint: setup ## ruff check, ruff format --check, and docker-compose.yml (if docker-compose is here)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(MAKE) --no-print-directory compose-check

format: setup ## Fix what ruff can and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compose-check: ## Validate docker-compose.yml, with every variable .env.example lists filled in
	@if ! command -v docker-compose >/dev/null; then \
		echo "docker-compose not installed: docker-compose.yml not checked"; exit 0; fi; \
	env_file=$$(mktemp); trap 'rm -f "$$env_file"' EXIT; \
	sed -E 's/^([A-Z0-9_]+)=$$/\1=placeholder/' .env.example > "$$env_file"; \
	docker-compose --env-file "$$env_file" config -q && echo "docker-compose.yml: valid"

bench: setup ## Run every benchmark (bench/*/run.py)
	@shopt -s nullglob; scripts=(bench/*/run.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks yet"; fi; \
	for script in "$${scripts[@]}"; do echo "==> $$script"; $(BIN)/python "$$script"; done

lock: ## Regenerate requirements.lock from .venv after changing pyproject.toml
	@{ echo "# The whole environment, pinned: \`pip install -c requirements.lock -e '.[dev]'\` (make setup)."; \
	   echo "# Regenerate with \`make lock\` after changing pyproject.toml; never edit by hand."; \
	   $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock

clean: ## Remove ./data and build outputs (keeps .venv)
	rm -rf data build *.egg-info .pytest_cache .ruff_cache logs bench/results \
		dbt_project/target dbt_project/dbt_packages dbt_project/logs
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	@if [ "$(SHIFU_DATA_DIR)" != "$(CURDIR)/data" ]; then \
		echo "SHIFU_DATA_DIR=$(SHIFU_DATA_DIR) is outside the repo: left alone"; fi

distclean: clean ## clean, and remove .venv too
	rm -rf $(VENV)

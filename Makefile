# Everything installs into the repo: .venv/ (PyPI, pinned) and .tools/ (npm).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS_STAMP := .tools/.installed
ANVIL_VERSION := 1.7.1

.PHONY: setup demo test lint typecheck check bench clean

setup: $(STAMP) $(TOOLS_STAMP)

# Both locks: the runtime one (all the production image gets) and the dev/test one on top.
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

$(TOOLS_STAMP):
	mkdir -p .tools
	npm install --silent --no-fund --no-audit --prefix .tools @foundry-rs/anvil@$(ANVIL_VERSION)
	.tools/node_modules/.bin/anvil --version
	npm install --silent --no-fund --no-audit --prefix .tools axe-core@4.14.1
	# Debian packages for the tests (needs root): headless Chromium for the console and
	# checkout pages, and Compose's own parser (docker-compose) to check docker-compose.yml
	# (no Docker engine needed or started).
	(command -v chromium && command -v docker-compose) >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium docker-compose)
	touch $(TOOLS_STAMP)

demo: setup
	$(BIN)/python -m dev.demo $(DEMO_ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	# Unit tests on every core (pure logic, CPU-bound); then the end-to-end tests in two
	# processes, a test file at a time each (each process brings up its own shared stack;
	# the tests wait on brokers, chains and workers more than they compute).
	$(BIN)/pytest -q -p no:cacheprovider -n 2 tests/unit
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=25 tests/e2e

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .tools .blockhook

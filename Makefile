# MBO Cultuurkaart: the commands a developer needs. Every target installs what it uses first;
# the install steps do nothing (and print nothing) when everything is already there.
#
#   make run        install (+ RabbitMQ if missing), run the portal until Ctrl-C; ARGS="--port 9000"
#   make test       install (+ RabbitMQ, PostgreSQL, the browser/PDF packages when missing), test
#   make lint       ruff, then mypy --strict over shared/, the services and tools/ (pyproject [tool.mypy])
#   make bench      every bench/bench_*.py (BENCHES=...), a targets table; bench/results/latest.json
#   make asyncapi   docs/asyncapi/<service>.json
#   make definitions  deploy/rabbitmq/definitions.json from the contracts' topology
#   make catalogue  the templates' Dutch into messages.po; lists text the catalogue lacks

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# pip --user puts uv here when it had to be installed.
export PATH := $(HOME)/.local/bin:$(PATH)

# Debian packages the tests need: headless Chromium for the browser tests, poppler-utils to
# read generated PDFs, Pango/HarfBuzz for WeasyPrint.
DEBIAN_PACKAGES := chromium poppler-utils libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0

PYTEST_ARGS ?=
# Test processes (pytest-xdist): most tests wait on the broker, a database or a subprocess, so
# two workers keep both cores busy; a file's tests stay together on one worker (module fixtures
# such as a running stack are built once). PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
# ck-dev run's options for `make run` (--port, --data-dir, ...; `make run ARGS=--help`).
ARGS ?=

# Installs (apt-get, as root or through sudo) and starts RabbitMQ / PostgreSQL where the
# address is local and nothing answers there; silent when they answer.
ENSURE_SERVICES := tools/setup/ensure-services.sh

.PHONY: help run test lint bench asyncapi definitions catalogue install uv debian-packages bench-packages node-packages

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

# A fresh Debian has python3 but no pip: python3-pip first (apt-get, as root or through sudo).
uv:
	@if ! command -v uv >/dev/null 2>&1; then \
	  if ! python3 -m pip --version >/dev/null 2>&1; then \
	    sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	    echo "Installing python3-pip (apt-get) ..."; \
	    $$sudo apt-get update -qq; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      python3-pip >/dev/null; \
	  fi; \
	  echo "Installing uv (pip) ..."; \
	  python3 -m pip install --quiet --user uv 2>/dev/null \
	    || python3 -m pip install --quiet --user --break-system-packages uv; \
	fi

install: uv
	@uv sync --frozen --quiet

debian-packages:
	@missing=""; \
	for pkg in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "Installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing \
	    >/dev/null; \
	fi

# wrk drives the HTTP benchmarks: a Python load generator saturates a core by itself here.
bench-packages:
	@command -v wrk >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

run: install
	@$(ENSURE_SERVICES) --amqp-url "$${AMQP_URL:-}" rabbitmq
	uv run ck-dev run $(ARGS)

# axe-core for the browser tests' accessibility scan (tools/testkit/node, pinned by its lock).
node-packages:
	@[ -f tools/testkit/node/node_modules/axe-core/axe.min.js ] || { \
	  command -v npm >/dev/null 2>&1 || { \
	    sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	    $$sudo apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends npm >/dev/null; }; \
	  npm ci --no-audit --no-fund --silent --prefix tools/testkit/node; }

test: install debian-packages node-packages
	@$(ENSURE_SERVICES) --amqp-url "$${TEST_AMQP_URL:-}" --postgres-url "$${TEST_POSTGRES_URL:-}" \
	  rabbitmq postgresql
	uv run pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The packages mypy checks: the product code (tests are checked by running them).
MYPY_PACKAGES := shared/contracts/src shared/runtime/src $(wildcard services/*/src) tools/devstack/src tools/testkit/src

lint: install
	uv run ruff check .
	uv run mypy $(MYPY_PACKAGES)

# Each bench's output is also kept in bench/results/<bench>.log (this run's only: the folder is
# emptied first); bench/summary.py then writes bench/results/latest.json and prints the table of
# the issue's targets. A failing bench does not stop the others; make fails at the end.
BENCHES ?= $(wildcard bench/bench_*.py)

bench: install bench-packages
	@mkdir -p bench/results; rm -f bench/results/*.log bench/results/latest.json; \
	failed=""; \
	for f in $(BENCHES); do \
	  echo "== $$f"; \
	  log="bench/results/$$(basename "$$f" .py).log"; \
	  uv run python "$$f" 2>&1 | tee "$$log" || failed="$$failed $$f"; \
	done; \
	echo; echo "== summary (bench/results/latest.json)"; \
	uv run python bench/summary.py --json bench/results/latest.json bench/results/*.log; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

asyncapi: install
	uv run ck-dev asyncapi

definitions: install
	uv run python -m ck_devstack.definitions > deploy/rabbitmq/definitions.json.tmp
	mv deploy/rabbitmq/definitions.json.tmp deploy/rabbitmq/definitions.json

# Babel's extraction (services/gateway/babel.cfg) over the gateway: rewrites the templates'
# section of the catalogue, then lists what the code asks for that no section holds (exit 1).
catalogue: install
	cd services/gateway && uv run python -m ck_gateway.extraction --write

# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install briefmail, send the sample issue through an embedded SMTP server
#   make test   install test tools (system packages via apt-get when root), run linters and tests
VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
APP_STAMP := $(VENV)/.installed-app
DEV_STAMP := $(VENV)/.installed-dev
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: demo test check lint system-deps clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(APP_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(APP_STAMP)

demo: $(APP_STAMP)
	$(VENV)/bin/briefmail demo

# Node.js and npm run the official MJML compiler that validates our templates in tests.
system-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	  else \
	    echo "npm is missing: install Node.js and npm (e.g. sudo apt-get install nodejs npm)"; exit 1; \
	  fi; \
	fi

$(NODE_STAMP): package.json package-lock.json | system-deps
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: $(DEV_STAMP) $(NODE_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

check: lint test

clean:
	rm -rf $(VENV) node_modules demo-out .pytest_cache .mypy_cache .ruff_cache

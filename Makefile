# Everything starts from python3 and make. `make run` and `make check` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: install run demo notebooks lint typecheck docs test test-main test-browser check bench chromium postgresql clean

# The developer venv: the package (editable) with the notebook extra and the developer tools.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(PY) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job's venv: only the package and its notebook extra (no test tools, no browser).
RUN_VENV := .venv-run
RUN_STAMP := $(RUN_VENV)/.installed

$(RUN_STAMP): pyproject.toml
	test -x $(RUN_VENV)/bin/python || $(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/python -m pip install -q --disable-pip-version-check uv
	$(RUN_VENV)/bin/uv pip install -q --python $(RUN_VENV)/bin/python -e '.[notebook]'
	touch $(RUN_STAMP)

# Debian's Chromium for the browser tests (never `playwright install`: it downloads a browser).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; fi; }

# Debian's PostgreSQL for the postgres tests: they start their own server (tests/_postgres.py).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "the postgres tests need Debian's postgresql: sudo apt-get install -y postgresql" >&2; exit 1; fi; }

# JupyterLab on notebooks/ (with the simulator when no key is set); `make run PORT=9000`.
PORT ?=
run: $(RUN_STAMP)
	$(RUN_VENV)/bin/qolaba-nb lab $(if $(PORT),--port $(PORT))

demo: $(RUN_STAMP)
	$(RUN_VENV)/bin/qolaba-nb demo

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# The package strictly, the tests with a relaxed override (pyproject.toml); the browser tests
# import their helpers as top-level modules, so they are checked in a run of their own.
typecheck: $(STAMP)
	$(BIN)/mypy
	MYPYPATH=tests/browser $(BIN)/mypy tests/browser/*.py

# The notebooks' saved outputs are checked by nbval against the simulator (started in conftest.py).
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

test-main: $(STAMP) postgresql
	$(PYTEST) --ignore=tests/browser
	$(PYTEST) $(NBVAL) notebooks

# Re-run every notebook against a fresh simulator and save the outputs nbval checks.
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py

# Playwright's sync API and the asyncio tests do not share a process well: their own run.
test-browser: $(STAMP) chromium
	$(PYTEST) tests/browser

test: test-main test-browser

# The documentation site into site/: the API reference from the docstrings (mkdocstrings), the
# tutorials rendered from notebooks/ with their saved outputs (docs/hooks.py). --strict: a
# broken link or reference, a griffe warning or a public object without a docstring fails.
# Nothing is fetched: the build runs offline.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

check: lint typecheck docs test

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(RUN_VENV) site dist .mypy_cache .ruff_cache .pytest_cache tests/browser/artifacts

# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-sqlite test-postgres lint bench clean browsers screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,postgres]'
	touch $@ $(VENV)/.installed-run

# The demo keeps its database (linli-demo.db) and ends with the console command and the figures.
demo: $(VENV)/.installed-run
	$(BIN)/linli demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# The browser tests drive Debian's chromium through chromium-driver; install them when missing (as root).
# Without them (no root, no apt-get, no network) the browser tests are skipped and say why.
BROWSER_PACKAGES ?= chromium chromium-driver
browsers:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(BROWSER_PACKAGES) for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null) \
	    || echo "could not install $(BROWSER_PACKAGES): the browser tests will be skipped"; \
	else echo "chromium / chromium-driver missing and not root: the browser tests will be skipped"; fi

# Phone and desktop screenshots of each console page (Chinese fonts needed for a readable picture).
screenshots: $(VENV)/.installed-test
	@$(MAKE) --no-print-directory browsers BROWSER_PACKAGES="chromium chromium-driver fonts-noto-cjk"
	$(BIN)/python -m tests.console.screenshots docs/screenshots

# pytest exits 5 when it collects no test: say so instead of failing on it.
PYTEST = rc=0; $(BIN)/pytest || rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; rc=0; fi

# The whole suite twice: on SQLite, then on PostgreSQL (the server in LINLI_TEST_POSTGRES, else a
# throwaway one started by .ci/with-postgres; without PostgreSQL installed that run is skipped
# with a warning, except in CI, where it fails).
test: lint browsers
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

test-sqlite: $(VENV)/.installed-test
	@echo "== the whole suite on SQLite"
	@export LINLI_TEST_POSTGRES=; $(PYTEST); exit $$rc

test-postgres: $(VENV)/.installed-test
	@echo "== the whole suite on PostgreSQL"
	@if [ -n "$$LINLI_TEST_POSTGRES" ]; then $(PYTEST); exit $$rc; fi; \
	rc=0; bash .ci/with-postgres $(MAKE) --no-print-directory test-postgres || rc=$$?; \
	if [ $$rc -eq 77 ]; then \
	  if [ -n "$$CI" ]; then echo "PostgreSQL is required in CI" >&2; exit 1; fi; \
	  echo "WARNING: PostgreSQL is not installed: the PostgreSQL run was skipped (apt-get install postgresql)"; rc=0; \
	fi; exit $$rc

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/loop.py
	$(BIN)/python benchmarks/classify.py
	$(BIN)/python benchmarks/console.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/linli demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# pytest exits 5 when it collects no test: say so instead of failing on it.
test: $(VENV)/.installed-test lint
	@$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; exit 0; fi; exit $$rc

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/loop.py
	$(BIN)/python benchmarks/classify.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# Two entry points for a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# book.py is compiled at install time (setup.py): a change to it reinstalls, so it is rebuilt.
$(STAMP): pyproject.toml setup.py perpsim/core/book.py perpsim/core/book.pxd | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench,sim,ray]'
	touch $(STAMP)

.PHONY: install run test bench
install: $(STAMP)

run: $(STAMP)
	$(BIN)/perpsim serve

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/perpsim bench all --quick

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
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

.PHONY: install run test bench bot-venvs bot-venv-freqtrade bot-venv-nautilus
install: $(STAMP)

run: $(STAMP)
	$(BIN)/perpsim serve

test: $(STAMP)
	-$(MAKE) bot-venvs
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/perpsim bench all --quick

# The real bots the bot tests run, each in its own virtualenv (pinned; reused when present). A bot
# that cannot be installed makes its tests skip with the reason, not `make test` fail.
FREQTRADE_VERSION := 2026.9
NAUTILUS_VERSION := 1.221.0
bot-venvs: bot-venv-freqtrade bot-venv-nautilus

bot-venv-freqtrade: .venv-freqtrade/.installed
.venv-freqtrade/.installed:
	$(PY) -m venv .venv-freqtrade || python3 -m venv .venv-freqtrade
	.venv-freqtrade/bin/pip install -q "freqtrade==$(FREQTRADE_VERSION)"
	touch $@

bot-venv-nautilus: .venv-nautilus/.installed
.venv-nautilus/.installed:
	$(PY) -m venv .venv-nautilus || python3 -m venv .venv-nautilus
	.venv-nautilus/bin/pip install -q "nautilus_trader==$(NAUTILUS_VERSION)"
	touch $@

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

.PHONY: install run test bench web web-test chromium bot-venvs bot-venv-freqtrade bot-venv-nautilus
install: $(STAMP) web

run: $(STAMP) web
	$(BIN)/perpsim serve

test: $(STAMP) web web-test chromium
	-$(MAKE) bot-venvs
	$(BIN)/python -m pytest

# The practice dashboard: web/ (TypeScript) built by npm from the committed lock file into perpsim/web_dist.
WEB_DIST := perpsim/web_dist/index.html
WEB_SRC := $(wildcard web/src/*.ts web/src/pages/*.ts web/src/*.css) web/index.html web/build.mjs web/package-lock.json
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
$(WEB_DIST): web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run --silent build
# without npm the venue still runs (its / page says how to build the dashboard); the tests need it
web:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(WEB_DIST); \
	else echo "npm not found: the dashboard is not built (install Node.js 20+ and run make web)"; fi
web-test: web/node_modules/.package-lock.json
	cd web && npx tsc --noEmit -p . && npx vitest run

# Debian's Chromium for the dashboard's end-to-end tests (Playwright drives it; no browser download).
chromium:
	@test -x /usr/bin/chromium || (flock /tmp/apt.lock apt-get update -q && flock /tmp/apt.lock apt-get install -y -q chromium)

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

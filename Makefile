# The two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# 127.0.0.1: reachable from this computer only; HOST=0.0.0.0: from the local network too
HOST ?= 127.0.0.1
# the tests run in this many processes (pytest-xdist; 0: in pytest's own process)
TEST_PROCESSES ?= 2

.PHONY: run test install install-dev translations clean bench

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

install-dev: $(BIN)/.installed-dev

run: install
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m webapp.launcher

test: install-dev
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

translations: install-dev
	$(BIN)/pybabel extract -w 120 --no-location --sort-output -F babel.cfg -k _l -k ngettext:1,2 -k Reason -k plural:1,2 -k N_ -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -w 120 --no-fuzzy-matching --ignore-obsolete -i webapp/translations/messages.pot -d webapp/translations
	$(BIN)/pybabel compile -d webapp/translations

clean:
	rm -rf $(VENV) .pytest_cache

bench: install-dev
	$(BIN)/python -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)

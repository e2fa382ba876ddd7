# The two quick-start commands: `make run` starts the bot, `make test` runs the tests.
# Both create .venv and install the project into it on first use (needs only Python 3.11+).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint fmt bench chat clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Tsunagu needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## start the bot (migrates the database first)
	$(BIN)/tsunagu serve

# Parallel workers (pytest-xdist), each with its own database. The tests mostly wait on
# sockets and threads, so more workers than cores pays; WORKERS=0 runs in one process.
WORKERS ?= 3
SLOW_WORKERS ?= 2

# Python may write its bytecode caches (and pytest its rewritten test modules) even when
# the environment says not to: without them every test process (the controller and each
# worker) compiles the project and rewrites the tests again, about 3.5 s of CPU apiece.
unexport PYTHONDONTWRITEBYTECODE

test: $(STAMP)  ## the suite without the slow tests (SQLite; set TEST_DATABASE_URL for PostgreSQL)
	$(BIN)/python -m pytest -m "not slow" -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)

# The browser tests share one worker (xdist_group "browser"): two Chromiums at once
# only slow each other down. The other worker runs the slow tests without a browser
# beside them (measured on a loaded 2-core machine: 147 s with one worker, 103 s with two,
# the same CPU).
test-slow: $(STAMP)  ## the slow tests: killed and restarted processes, several processes, the browser, the webhook fuzzer
	$(BIN)/python -m pytest -m slow -n $(SLOW_WORKERS) --dist loadgroup $(PYTEST_ARGS)

chat: $(STAMP)  ## talk to the bot in the terminal
	$(BIN)/tsunagu chat

lint: $(STAMP)  ## ruff, mypy strict, the layer contract, migrations in step with models
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	DATABASE_URL=sqlite:///$(CURDIR)/var/lint-check.sqlite3 $(BIN)/tsunagu db upgrade >/dev/null
	DATABASE_URL=sqlite:///$(CURDIR)/var/lint-check.sqlite3 $(BIN)/tsunagu db check
	rm -f var/lint-check.sqlite3*

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## webhook benchmark beside the SDK echo bot
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) var/*.sqlite3*

# Two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt requirements-models.txt | cksum | cut -d' ' -f1)
WEB_PORT ?= 8000

.PHONY: run test lint format venv migrate bench clean

$(STAMP): requirements.txt requirements-dev.txt requirements-models.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create a virtual environment: on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

# A first start writes .env from .env.example with a fresh random SECRET_KEY (never committed), and what a local
# trial needs without editing it: local-only Twilio credentials and, with no provider key in the environment,
# scripted/offline providers (scripts/make_env.py; `show_urls` below says at every start what is a trial).
.env: | $(STAMP)
	@WEB_PORT=$(WEB_PORT) $(BIN)/python scripts/make_env.py .env.example .env

migrate: venv .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_default_business
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

# honcho hands each process a PORT of its own (web: the -p port), which the Procfile's web line listens on.
run: migrate
	@$(BIN)/python manage.py show_urls --port $(WEB_PORT)
	PATH="$(CURDIR)/$(BIN):$$PATH" WEB_PORT=$(WEB_PORT) $(BIN)/honcho start -f Procfile -p $(WEB_PORT)

# Style, then the architecture: layer contracts (import-linter) and types (mypy), both configured in
# pyproject.toml. mypy's Django plugin loads the settings, which need a SECRET_KEY but no .env.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	READ_DOT_ENV=0 SECRET_KEY=type-check-only $(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite twice: embedded defaults (SQLite, in-memory layer, SQLite broker), then real PostgreSQL
# and Redis started by the test session itself (skipped, with the reason, when their binaries are missing).
test: lint
	$(BIN)/pytest
	TEST_SERVICES=1 $(BIN)/pytest

# N simultaneous calls against one daphne with zero-latency fakes; results in bench/results/latest.json.
BENCH_CALLS ?= 100
BENCH_DURATION ?= 60
bench: venv
	$(BIN)/python -m bench.load --calls $(BENCH_CALLS) --duration $(BENCH_DURATION)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache .import_linter_cache

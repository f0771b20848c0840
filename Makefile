# The commands a newcomer needs. `make demo` runs FieldCRM with demo data on SQLite;
# `make test` installs what the tests need and runs the whole suite (SQLite and PostgreSQL).
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo test dev lint format migrations-check messages ci clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

demo: $(BIN)/python  ## install FieldCRM and serve it with demo data on http://127.0.0.1:8000/
	$(BIN)/pip install --quiet .
	$(BIN)/fieldcrm serve --demo

dev: $(BIN)/python  ## editable install with the test and lint tools
	$(BIN)/pip install --quiet -e '.[test]'

test: dev  ## the whole suite, in parallel: tests/ on SQLite and PostgreSQL, then e2e/ in Chromium
	$(BIN)/pytest -n auto tests
	$(BIN)/pytest -n auto e2e

lint: dev  ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: dev  ## models and migrations agree (alembic check on a fresh database)
	rm -f $(VENV)/alembic-check.db
	FIELDCRM_DATABASE_URL=sqlite+aiosqlite:///$(VENV)/alembic-check.db $(BIN)/fieldcrm db upgrade
	FIELDCRM_DATABASE_URL=sqlite+aiosqlite:///$(VENV)/alembic-check.db $(BIN)/alembic check

messages: dev  ## extract messages and update the ja/en catalogs
	$(BIN)/pybabel extract -F babel.cfg -k _l -o server/locale/messages.pot .
	$(BIN)/pybabel update -i server/locale/messages.pot -d server/locale

ci:  ## what CI runs on a clean clone
	bash .ci/run

clean:
	rm -rf $(VENV) build dist *.egg-info

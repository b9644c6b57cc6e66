# Agora: two commands on a fresh machine with only Python and pip.
#   make run   - set up and serve Agora on http://127.0.0.1:8000 with an embedded SQLite database
#   make test  - set up and run the whole test suite on SQLite and on PostgreSQL
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test setup setup-test services lint demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e .

setup-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

run: setup
	$(BIN)/agora serve --host 127.0.0.1 --port 8000

demo: setup
	$(BIN)/agora init
	$(BIN)/agora demo --users 200 --posts 5000

services:
	@bash scripts/ensure-services.sh

lint: setup-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test: setup-test services lint
	AGORA_TEST_DATABASE=sqlite $(BIN)/pytest
	AGORA_TEST_DATABASE=postgresql $(BIN)/pytest

clean:
	rm -rf $(VENV) data .pytest_cache

# Agora: two commands on a fresh machine with only Python and pip.
#   make run   - set up and serve Agora on http://127.0.0.1:8000 with an embedded SQLite database
#   make test  - set up and run the whole test suite on SQLite and on PostgreSQL
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles on install; a native build crashes on these CPUs (AVX512/AMX).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test setup setup-test services lint demo clean vendor browser peers nginx ffmpeg pgbouncer bench-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python vendor
	$(BIN)/pip install -q -e .

setup-test: $(BIN)/python vendor browser peers nginx ffmpeg pgbouncer
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/pip install -q -e '.[test]'

# The web app's front-end libraries, pinned in package.json / package-lock.json, from the npm
# registry into a git-ignored directory served under /static/vendor/ (no build step). npm ci
# also installs the devDependencies a real-client test runs (megalodon, a Node 22 binary).
VENDOR := src/agora/web/static/vendor
vendor: $(VENDOR)/htmx.min.js

$(VENDOR)/htmx.min.js: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js

# The browser tests drive Debian's chromium (Playwright never downloads a browser).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# bench.http's load generator (it falls back to a slower Python one without it).
bench-tools:
	@test -x /usr/bin/wrk || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	@test -x /usr/bin/valgrind || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind)  # bench.instructions
# The reverse-proxy test runs docs/deploy/nginx.conf with Debian's nginx (tests/test_nginx.py).
nginx:
	@test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
# The replica and topology tests put PgBouncer (transaction mode) in front of a throwaway primary
# (tests/postgres_cluster.py). PgBouncer 1.21 or later keeps prepared statements across
# transactions (`max_prepared_statements`); Debian 12 ships 1.18, so 1.24.1 is built from
# Debian's own source (trixie's package), its tarball checked against the SHA-256 below, into
# .tools/pgbouncer (git-ignored; about 20 s, skipped when that binary reports this version; only
# libevent-dev comes from apt). Nothing is started: the tests run it themselves.
PGBOUNCER_VERSION := 1.24.1
PGBOUNCER_SHA256 := da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
TOOLS := $(CURDIR)/.tools
pgbouncer:
	@PYTHON=$(PYTHON) bash scripts/build-pgbouncer.sh $(PGBOUNCER_VERSION) $(PGBOUNCER_SHA256) $(TOOLS)/pgbouncer $(TOOLS)/cache

# Video, audio and GIF uploads are checked and transcoded with Debian's ffmpeg (tests/test_media_video.py);
# without it (make run) such uploads answer 422 with a clear error.
ffmpeg:
	@test -x /usr/bin/ffmpeg || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg)

# The interop tests' peer server, bovine-herd, in its own environment: bovine pins versions
# Agora's cannot share (cryptography < 46, aiosqlite < 0.21). Pinned in the requirements file.
PEER_VENV ?= .venv-bovine
peers: $(PEER_VENV)/bin/hypercorn

$(PEER_VENV)/bin/hypercorn: tests/peers/bovine-requirements.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q -r tests/peers/bovine-requirements.txt
	touch $@

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
	$(BIN)/mypy

# Two test processes per pass (pytest-xdist; each file runs whole in one of them, with its own
# database: tests/conftest.py names it by process), one per core. Each pass ends with its 25
# slowest tests, so a CI run that nears its 30 minutes says where they went.
TEST_PROCESSES ?= 2
PYTEST_ARGS ?= -n $(TEST_PROCESSES) --dist loadfile --durations=25

test: setup-test services lint
	AGORA_TEST_DATABASE=sqlite $(BIN)/pytest $(PYTEST_ARGS)
	AGORA_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(PEER_VENV) data .pytest_cache node_modules $(VENDOR) .tools

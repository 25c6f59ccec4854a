# The two commands: `make dev` (the API on http://127.0.0.1:8000) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install dev test lint bench load soak clean

install: $(STAMP)

$(STAMP): requirements-dev.txt layers/imgapi/requirements.txt functions/image_worker/requirements.txt pyproject.toml \
		tests/e2e/removebg_node/package-lock.json
	@# The seed API's cURL example (run by the tests) needs curl and jq.
	@command -v curl >/dev/null && command -v jq >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq curl jq; }
	@# The browser tests drive Debian's Chromium (Playwright's own browser downloads are not possible here).
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	@# The npm remove.bg client the end-to-end tests drive (Node 20 and npm are on the machine; the npm registry only).
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --prefix tests/e2e/removebg_node --no-audit --no-fund --loglevel=error
	@# pymatting compiles with numba on first import (~30 s): pay it once here, not in a test or a request.
	$(BIN)/python -c "import rembg.bg"
	@# The worker image's build step (engine/model_prep): each REMBG_MODELS model found in rembg's home gets its
	@# optimised graph, so a local worker loads it as fast as a deployed one (a model not there is skipped).
	$(BIN)/python -m imgapi.engine.model_prep
	touch $@

dev: $(STAMP)
	$(BIN)/imgapi dev

# The suite in parallel (pytest-xdist): one worker per core (TEST_WORKERS=0: all in this process), each test file
# whole on one worker, so a module's shared in-memory stack is made once. Workers share no
# state: each has its own in-memory AWS, ports the system picks and its own temporary directories. The order changes
# with every run (pytest-randomly): the run prints its seed, and `make test PYTEST_ARGS=--randomly-seed=N` repeats it.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# 200 concurrent submits across every operation through the local stack (about 20 s); left out of `make test`,
# which has a quicker one.
load: $(STAMP)
	$(BIN)/python -m pytest -m load tests/load $(PYTEST_ARGS)

# Performance figures next to their targets (about 7 minutes on 2 cores); writes bench-results/bench.json.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# At least 500 jobs through the local stack over HTTP (a few minutes); prints throughput and latency.
soak: $(STAMP)
	$(BIN)/python -m pytest -m soak tests/load $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/sam validate --lint
	$(BIN)/lint-imports --config .importlinter --no-cache

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache

# The two commands that matter: `make run` and `make test`. Everything installs itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: install lock kafka browser run test test-unit test-slow test-faults test-postgres bench profile instructions demo demo-plan demo-warehouses docs clean

# Reproducible installs: every package at the version and hashes of requirements.lock (the
# dependencies and the test and demo extras), then the project itself with nothing resolved.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Regenerates requirements.lock after a change to pyproject.toml (pip-compile, in its own venv
# under var/; existing pins are kept); UPGRADE=1 moves every pin to the newest allowed release.
lock:
	$(PYTHON) -m tools.lock $(if $(UPGRADE),--upgrade)

# Fetches Apache Kafka's broker jars once (cached under var/kafka-libs/).
kafka: install
	$(BIN)/python -c "from deploy import localkafka; localkafka.ensure_jars()"

# Broker on 127.0.0.1:9092, topics, sample catalog, the four services; Ctrl-C stops everything.
run: kafka
	$(BIN)/python -m tools.run_platform

# Debian's Chromium for the console's browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# The default suite against the real broker (started by the tests when KAFKA_BOOTSTRAP_SERVERS is unset),
# its modules spread over TEST_WORKERS pytest-xdist workers (each with its own broker; a module's
# tests stay on one worker, so they share its services). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: kafka browser
	$(PYTEST) -m "not slow and not faults" --durations=20 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadscope)

test-unit: install
	$(PYTEST) tests/unit

# Heavier load and fault runs.
test-slow: kafka
	$(PYTEST) -m "slow and not faults"

# A measurement, not a test: broker ceiling; on SQLite and on PostgreSQL (a local server,
# installed from Debian's packages if missing) a 100,000-order burst, 1,000/s steady for 60 s and
# HTTP load (POST /orders 500/s) during a burst; the PostgreSQL burst again with two instances of
# each service. BENCH_ARGS passes options, e.g. BENCH_ARGS="--databases sqlite --orders 20000".
bench: kafka
	$(BIN)/python -m tools.bench --write-docs $(BENCH_ARGS)
	@# What tracing costs an order at the default sampling, against off, in one run (docs/benchmarks.md, "Tracing").
	$(BIN)/python -m tools.profile_pipeline --orders 2000 --tracing compare

# Each service's own handler rate (orders -> inventory -> logistics in one process, no broker);
# PROFILE=inventory adds a cProfile of that stage.
profile: install
	$(BIN)/python -m tools.profile_pipeline --orders 5000 $(if $(PROFILE),--profile $(PROFILE))

# Instructions an order costs in the handlers, counted by valgrind (steady where timings are not).
instructions: install
	$(BIN)/python -m tools.instructions
	@# STAGE=inventory or STAGE=logistics also counts that service's stage alone (tools/stage_instructions.py).
	$(if $(STAGE),$(BIN)/python -m tools.stage_instructions --stage $(STAGE))

# Crash, broker-loss and scale-out runs (tests/faults): each prints what it injected and counted.
test-faults: kafka
	$(PYTEST) -m faults -s

# A simulated promotion day through the running platform; report and charts under var/demo/.
# Its `demo` extra (matplotlib, tqdm) is in requirements.lock, which `install` installs whole.
demo: kafka
	$(BIN)/python -m tools.simulate $(ARGS)

# The planning tool on the sample files (deploy/samples/; docs/simulator.md): a what-if grid of
# pickers x carrier capacity, the recommendation printed, the comparison in var/demo/<run>/grid.html.
# The sample plan (about 90,000 orders) runs at 1% of its size, stock and carrier capacity with it.
demo-plan: kafka
	$(BIN)/python -m tools.simulate --catalog deploy/samples/catalog.csv --plan deploy/samples/plan.json \
		--carriers deploy/samples/carriers.json --plan-scale 0.01 --picks-per-hour 10 \
		--grid pickers=1,2,3 carriers=0.8,1 $(ARGS)

# Several warehouses (issue 34): the default simulation with deploy/samples/warehouses.json - stock
# spread over north, east and south by their regions' demand, each with its own pickers; the
# report's SLA table per warehouse (docs/simulator.md "Several warehouses").
demo-warehouses: kafka
	$(BIN)/python -m tools.simulate --warehouses deploy/samples/warehouses.json $(ARGS)

docs: install
	$(BIN)/python -m tools.events_doc > docs/events.md

clean:
	rm -rf var/db test-output

# The integration and e2e suites with every service on PostgreSQL (installed from Debian's
# packages if missing, a throwaway local server for the run).
test-postgres: kafka browser
	TEST_DATABASE=postgres $(PYTEST) -m "(integration or e2e) and not slow and not faults"

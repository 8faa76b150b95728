# Two commands do all set-up on a fresh machine with Python 3.11 and pip:
#   make demo   - create .venv, install, load simulated data into coveo_ua.duckdb, print it
#   make test   - create .venv, install, run ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-unit lint typecheck pytest airflow-test dagster-test test-dlt-oldest bench bench-daily cassettes clean

# pip's output goes to a log, shown only when the install fails
$(STAMP): pyproject.toml constraints.txt
	@echo "installing into $(VENV), pinned by constraints.txt (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --upgrade "pip>=24" \
	  && $(BIN)/python -m pip install -c constraints.txt -e ".[dev]"; } \
	  > $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/coveo-ua demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy coveo_ua_source coveo_ua_simulator

pytest: $(STAMP)
	$(BIN)/pytest

# The inner loop: no network, no process, no database.
test-unit: $(STAMP)
	$(BIN)/pytest -n 0 tests/unit

# The Airflow DAG tests, with a pinned Airflow in its own venv (.airflow-venv); CI runs
# them inside `make test` by exporting COVEO_UA_AIRFLOW first (see .ci/run).
airflow-test: $(STAMP)
	COVEO_UA_AIRFLOW="$$(bash .ci/airflow.sh)" $(BIN)/pytest tests/integrations/test_airflow.py

# The test suite (but the Airflow and packaging tests) on the oldest supported dlt, in its
# own venv (.venv-dlt-oldest, pinned by .ci/constraints-dlt-oldest.txt); CI runs it after
# `make test`.
test-dlt-oldest:
	bash .ci/dlt-oldest.sh

# The Dagster asset tests, with a pinned Dagster in its own venv (.dagster-venv); CI runs
# them inside `make test` by exporting COVEO_UA_DAGSTER first (see .ci/run).
dagster-test: $(STAMP)
	COVEO_UA_DAGSTER="$$(bash .ci/dagster.sh)" $(BIN)/pytest tests/integrations/test_dagster.py

# The performance targets (docs/performance.md): the daily case (one day of 200k searches,
# pipeline.run against raw DuckDB, interleaved), then 1M searches (with extract RSS at 4x
# rows, and case b again with the simulator's high rate of bad custom dimension values)
# and 2M searches; `make bench ROWS=N` runs one size, all cases but the daily one.
bench: $(STAMP)
ifeq ($(origin ROWS),command line)
	$(BIN)/python -m bench.run --rows $(ROWS)
else
	$(BIN)/python -m bench.run --daily --out bench/out/daily
	$(BIN)/python -m bench.run --rows 1000000 --rss-scaling --high-rate --out bench/out/1m
	$(BIN)/python -m bench.run --rows 2000000 --cases abc --out bench/out/2m
endif

# The daily case alone (about a minute).
bench-daily: $(STAMP)
	$(BIN)/python -m bench.run --daily --out bench/out/daily

cassettes: $(STAMP)
	COVEO_UA_RECORD=1 $(BIN)/pytest -n 0 tests/api/test_client.py --record-mode=rewrite

clean:
	rm -rf $(VENV) .venv-dlt-oldest .pytest_cache .mypy_cache .ruff_cache coveo_ua.duckdb .coveo_ua

# DictaMesh developer commands. `make run` starts the platform locally, `make test` tests it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint pytest bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: install
	$(BIN)/python -m devtools.stack

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# Tests get a broker and a Redis database of their own, so a running `make run` keeps clean
# topics and keys (override with TEST_KAFKA_BOOTSTRAP_SERVERS / TEST_REDIS_URL).
TEST_KAFKA ?= $(or $(TEST_KAFKA_BOOTSTRAP_SERVERS),127.0.0.1:19092)
TEST_REDIS ?= $(or $(TEST_REDIS_URL),redis://127.0.0.1:6379/1)

pytest: install
	KAFKA_BOOTSTRAP_SERVERS=$(TEST_KAFKA) REDIS_URL=$(TEST_REDIS) $(BIN)/python -m pytest

test: lint pytest

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache

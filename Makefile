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
	$(BIN)/python -m dictamesh.devtools.stack

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .

pytest: install
	$(BIN)/python -m pytest

test: lint pytest

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache

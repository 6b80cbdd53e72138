# Two commands: `make run` serves the dashboard, `make test` runs the whole suite.
# `make run` answers only to this machine's loopback names (ganlab/ui/serve.py); ADDRESS=0.0.0.0 shares it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
ADDRESS ?= 127.0.0.1
# pytest-xdist workers for `make test`: two, with every browser test on one of them (tests/conftest.py);
# TEST_WORKERS=0 runs the suite in this process, one test at a time
TEST_WORKERS ?= 2

.PHONY: run test lint setup setup-dev bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

run: setup
	$(BIN)/python -m ganlab.ui.serve --server.address $(ADDRESS) --server.port $(PORT)

lint: setup-dev
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: setup
	$(BIN)/python -m bench.speed
	$(BIN)/python -m bench.quality

clean:
	rm -rf $(VENV) .pytest_cache

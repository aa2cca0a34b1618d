# li2s-doe: every target creates .venv and installs the pinned dependencies when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test unit lint typecheck fmt bench bench-ceiling bench-fixed serve mlflow-ui replay clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/doe demo

lint: $(STAMP)
	$(BIN)/ruff check doe surrogates campaigns tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format doe surrogates campaigns tests bench
	$(BIN)/ruff check --fix doe surrogates campaigns tests bench

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-ceiling: $(STAMP)
	$(BIN)/python -m bench.ceiling $(BENCH_ARGS)

bench-fixed: $(STAMP)
	$(BIN)/python -m bench.fixed $(BENCH_ARGS)

serve: $(STAMP)
	$(BIN)/doe serve --host 127.0.0.1

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --default-artifact-root ./mlflow/artifacts --host 127.0.0.1 --port 5000

replay: $(STAMP)
	$(BIN)/doe replay --simulator $(or $(CAMPAIGN),li2s_si)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

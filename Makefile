# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick install services bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run the dry-run inference on the bundled fintech demo and print the graph summary.
demo: $(STAMP)
	$(BIN)/s3lineage infer --config fixtures/demo/lineage.toml --dry-run \
		--output out/demo-graph.json --fail-on never
	$(BIN)/s3lineage infer --config fixtures/demo/lineage.toml --dry-run --quiet \
		--format mermaid --output out/demo-graph.mmd --fail-on never
	$(BIN)/s3lineage infer --config fixtures/demo/lineage.toml --dry-run --quiet \
		--format html --output out/demo-report.html --fail-on never
	@echo "also written: out/demo-graph.mmd (Mermaid) and out/demo-report.html (open it in a browser)"

## Install everything (PostgreSQL 15 server and Chromium too, when root can) and run the whole suite.
test: $(STAMP) services
	$(BIN)/python -m pytest -q

## The fast subset: no servers, no large files (seconds).
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

services:
	@bash scripts/ensure_postgres.sh
	@bash scripts/ensure_chromium.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_resolver.py

docs: $(STAMP)
	$(BIN)/s3lineage recognizers --markdown > docs/recognizers.md

clean:
	rm -rf out .pytest_cache

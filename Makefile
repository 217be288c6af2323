# Every target sets up what it needs on a fresh machine: a virtual environment pinned by constraints.txt,
# and the aws-cdk CLI pinned by package-lock.json.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck unit synth tools infra-check bench soak clean

# the example apps are installed beside Baton, as a user installs their own app
EXAMPLE_APPS := $(wildcard examples/*/pyproject.toml)

$(PY_STAMP): pyproject.toml constraints.txt $(EXAMPLE_APPS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(foreach app,$(EXAMPLE_APPS),--editable $(dir $(app)))
	touch $@

# checkov pins many packages: it and cfn-lint get their own venv, never the project's
$(TOOLS_STAMP): infra/tools-requirements.txt infra/tools-constraints.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --constraint infra/tools-constraints.txt --requirement infra/tools-requirements.txt
	touch $@

# bench-only comparison packages (LangGraph, Strands), never mixed into Baton's own environment
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): benchmarks/requirements-bench.txt benchmarks/constraints-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --constraint benchmarks/constraints-bench.txt -r benchmarks/requirements-bench.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## demo: the refund workflow end to end, offline, on the embedded moto backend
demo: $(PY_STAMP)
	$(BIN)/baton run refund --input examples/refund/default.json

## test: lint, type-check and every test (unit, local end-to-end, infrastructure)
test: lint typecheck unit

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy baton benchmarks $(foreach app,$(EXAMPLE_APPS),$(wildcard $(dir $(app))*_app))

unit: $(PY_STAMP) $(NODE_STAMP) $(TOOLS_STAMP)
	$(BIN)/pytest

## synth: the CloudFormation templates, offline (no AWS account needed)
synth: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth --quiet

## tools: checkov and cfn-lint for the infrastructure tests, in their own venv
tools: $(TOOLS_STAMP)

## infra-check: the infrastructure tests alone (CDK assertions, cdk-nag, checkov, cfn-lint)
infra-check: $(PY_STAMP) $(NODE_STAMP) $(TOOLS_STAMP)
	$(BIN)/pytest tests/infra

## bench: cold start, asset size, cost per run, growth, scale, offline speed: one table + benchmarks/results/bench.json
## (if the bench-only packages cannot be installed, their rows say n/a and the rest still runs)
bench: $(PY_STAMP)
	-$(MAKE) --no-print-directory $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.bench --bench-python $(BENCH_VENV)/bin/python

## soak: 1,000 refund runs offline with 20% of agent invocations faulted; nothing may be lost
soak: $(PY_STAMP)
	$(BIN)/python -m benchmarks.soak --runs 1000 --rate 0.2 --batch 100

clean:
	rm -rf $(VENV) $(TOOLS) $(BENCH_VENV) node_modules cdk.out build .baton

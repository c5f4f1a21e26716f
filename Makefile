# Two commands do everything on a fresh machine (see README.md):
#   make run    install into .venv, then run the workflow on the embedded synthetic default
#   make test   install into .venv, then run the test suite
# Other targets: make install | lint | report | bench | clean

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test lint report bench clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES)

test: install
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

report: run
	$(BIN)/snakemake --cores $(CORES) --report report.html

bench: install
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run_benchmarks.py $(BENCH_ARGS)

clean:
	rm -rf results .snakemake report.html

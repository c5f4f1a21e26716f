# Two commands do everything on a fresh machine (README.md, "Quick start"):
#   make run    install into .venv, then run the workflow on the embedded synthetic default
#   make test   install into .venv, then lint and run the whole test suite (what CI runs)
# Other targets:
#   make test-fast   unit tests only (no Snakemake runs), a few minutes
#   make lint        snakemake --lint and snakefmt --check
#   make report      HTML report of the run that exists (same ARGS as that run; runs nothing)
#   make simulation  the simulation study (results/<direction>/simulation.csv, simulation_moments.csv)
#   make bench       benchmarks (BENCHMARKS.md)
#   make bench-kernel   the C kernel against the kernel before the speed work (CPU time, instructions)
#   make bench-plan     the whole NetMob23 data set planned (dry run on 209,440 empty files)
#   make docs        config/README.md from config/schema.yaml (tests/test_docs.py checks it)
#   make install | clean
# ARGS passes options to Snakemake, e.g. make run ARGS="--configfile my_netmob.yaml"

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
ARGS ?=
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test test-fast lint report simulation bench bench-kernel bench-plan docs clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES) $(ARGS)

test: install lint
	$(BIN)/python -m pytest -q --durations=20 tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not workflow and not slurm" tests

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

report: install
	$(BIN)/snakemake --cores $(CORES) --report report.html $(ARGS)

simulation: install
	$(BIN)/snakemake --cores $(CORES) simulation $(ARGS)

# BENCH_ARGS: options of benchmarks/run_benchmarks.py (--help). The default workload:
# Paris, Lyon, Marseille, Toulouse x 26 days x 3 apps, DL, ~5 GB of files and a
# given tile map, generated once into bench/ (git-ignored) and reused while the settings stay;
# each timed run waits (up to 30 min) for a quiet machine (fewer than 0.3 cores in use).
BENCH_ARGS ?= --out bench --wait-busy 0.3

# polars (the parse floor only) goes to .bench-packages/, outside the venv: see
# EXTRA_PACKAGES in benchmarks/run_benchmarks.py
.bench-packages/.installed: benchmarks/requirements.txt | install
	$(BIN)/pip install --quiet --upgrade --target .bench-packages -r benchmarks/requirements.txt
	touch $@

bench: install .bench-packages/.installed
	$(BIN)/python benchmarks/run_benchmarks.py $(BENCH_ARGS)

# valgrind for the instruction counts (leave out --instructions without it)
bench-kernel: install
	$(BIN)/python benchmarks/kernel_speed.py --instructions

bench-plan: install
	$(BIN)/python benchmarks/full_plan.py

docs: install
	$(BIN)/python config/make_readme.py

clean:
	rm -rf results .snakemake report.html

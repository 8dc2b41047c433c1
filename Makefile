# Two commands matter (see README): `make demo` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench fuzz clean

DEMO_STAMP := $(VENV)/.demo-installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Each install also builds the optional C batch loop (policyengine/runtime/_batch.c) when a C compiler is present.
# `make demo` installs the core and its [demo] extra only (SQLAlchemy, for examples/sql_demo.py on SQLite); `make
# test` and the other targets install everything the tests, the solver, the service, the studio and the database
# drivers need.
$(DEMO_STAMP): pyproject.toml setup.py policyengine/runtime/_batch.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml setup.py policyengine/runtime/_batch.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,smt,serve,sql,studio]'
	touch $(STAMP)

## demo: print the Actions menu of the shipped policies for a few example orders and users, then bulk actions
## computed by a small SQLite database of example orders (examples/sql_demo.py)
demo: $(DEMO_STAMP)
	@$(BIN)/policyengine validate policies
	@for ex in examples/*.json; do \
		echo; echo "== $$ex: $$($(BIN)/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["title"])' $$ex)"; \
		$(BIN)/python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["order"])); print(json.dumps(d["user"]))' $$ex \
		| { read -r order; read -r user; $(BIN)/policyengine evaluate policies --order "$$order" --user "$$user"; }; \
	done
	@$(BIN)/python examples/sql_demo.py

## test: run the whole test suite (loadgroup: each xdist_group, e.g. a shard of the conformance corpus, runs on one worker)
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadgroup

## fuzz: the differential and load fuzzers of tests/test_fuzz.py and the prover fuzzer (tests/test_prover_fuzz.py) at their long profile (FUZZ_EXAMPLES each, 2000 by
## default: the better part of an hour; prints the figures: cases run, time, largest hostile file and its load time).
## `make test` runs them briefly.
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	POLICYENGINE_FUZZ=long POLICYENGINE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py tests/test_plan_fuzz.py tests/test_prover_fuzz.py -q -s -p no:cacheprovider

## check: the shipped policies load, pass their YAML tests, lint clean and keep every invariant; --strict: anything
## an analysis could not decide (a fact the SMT solver cannot model, a solver that gave up) fails the check too;
## --fail-under 100: a guard no case makes fire, an action no case checks or a store override no case tests fails it
check: $(STAMP)
	$(BIN)/policyengine validate policies
	$(BIN)/policyengine test policies --coverage --fail-under 100
	$(BIN)/policyengine lint policies --strict
	$(BIN)/policyengine verify policies --strict

## bench: the benchmark suite (issue 5's targets, ratios against hand-written code; issue 16's store and action
## scaling in bench/stores_bench.py; not part of the tests)
bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/http_bench.py
	$(BIN)/python bench/sql_bench.py
	$(BIN)/python bench/plan_bench.py
	$(BIN)/python bench/proof_bench.py
	$(BIN)/python bench/impact_bench.py
	$(BIN)/python bench/results_bench.py
	$(BIN)/python bench/stores_bench.py
	$(BIN)/python bench/cache_bench.py
	$(BIN)/python bench/studio_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info build policyengine/runtime/*.so

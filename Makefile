# Two commands matter (see README): `make demo` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench clean

# The install also builds the optional C batch loop (policyengine/runtime/_batch.c) when a C compiler is present.
$(STAMP): pyproject.toml setup.py policyengine/runtime/_batch.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,sql]'
	touch $(STAMP)

## demo: print the Actions menu of the shipped policies for a few example orders and users, then bulk actions
## computed by a small SQLite database of example orders (examples/sql_demo.py)
demo: $(STAMP)
	@$(BIN)/policyengine validate policies
	@for ex in examples/*.json; do \
		echo; echo "== $$ex: $$($(BIN)/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["title"])' $$ex)"; \
		$(BIN)/python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["order"])); print(json.dumps(d["user"]))' $$ex \
		| { read -r order; read -r user; $(BIN)/policyengine evaluate policies --order "$$order" --user "$$user"; }; \
	done
	@$(BIN)/python examples/sql_demo.py

## test: run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## check: the shipped policies load, pass their YAML tests, lint clean (strict) and keep every invariant
check: $(STAMP)
	$(BIN)/policyengine validate policies
	$(BIN)/policyengine test policies --coverage
	$(BIN)/policyengine lint policies --strict
	$(BIN)/policyengine verify policies

## bench: the benchmark suite (issue 5's targets, ratios against hand-written code; not part of the tests)
bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/sql_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info build policyengine/runtime/*.so

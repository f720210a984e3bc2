# The two commands a user needs are `make demo` and `make test`; each
# creates or refreshes .venv from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAYERS := server tools web products sandbox brightdata

.PHONY: demo test lint typecheck pytest serve bench soak clean

# pip's and setuptools' chatter goes to a log, shown only when the install fails.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --upgrade pip > $(VENV)/install.log 2>&1 \
		&& $(BIN)/python -m pip install -e '.[dev]' >> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	touch $(STAMP)

# The bench extra (matplotlib) goes in on top, so `make test` and `make demo` never need it.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	@echo "Installing the bench extra into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install -e '.[dev,bench]' >> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/product-extractor demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow the editable install's import hook, so it reads the
# layers through a folder of symlinks named like the import namespace.
typecheck: $(STAMP)
	rm -rf .typecheck && mkdir -p .typecheck/product_extractor
	for layer in $(LAYERS); do ln -s ../../$$layer .typecheck/product_extractor/$$layer; done
	cd .typecheck && MYPYPATH=. ../$(BIN)/mypy -p product_extractor

pytest: $(STAMP)
	$(BIN)/pytest

# Not a test: prints measured figures and rewrites docs/benchmarks.md and docs/benchmark-timeline.png.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/parallel.py

# Not a test: 200 calls through one server process with faults on, printing its memory and descriptors.
soak: $(STAMP)
	$(BIN)/python bench/soak.py

serve: $(STAMP)
	$(BIN)/product-extractor serve

clean:
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache

# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output
PYTEST_ARGS ?=
# Two pytest workers (pytest-xdist), a test file per worker at a time: while one waits on a
# subprocess or traces a graph in Python, the other computes.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile
DEMO_ARGS ?=

.PHONY: install test test-fast demo clean

$(STAMP): setup.py requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The whole suite, slow tests included (deselect them locally with PYTEST_ARGS='-m "not slow"').
test: $(STAMP)
	$(BIN)/python -m pytest tests $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow" $(XDIST) $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m mimnet_tf.demo --flagfile=configs/synthbirds.flags --out=$(DEMO_DIR) $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
